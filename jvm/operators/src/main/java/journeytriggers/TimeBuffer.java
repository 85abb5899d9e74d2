package journeytriggers;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.streaming.api.TimerService;

/**
 * Values held in a keyed operator's state until the watermark passes their time.
 *
 * <p>The shape the rule engine, the catalog lookup and deduplication share: {@link #add}
 * appends a value under its time and sets an event-time timer there (Flink keeps one timer per
 * key and time); the operator's {@code onTimer} then {@link #take}s the values of that time, in
 * arrival order, and orders them as its rules say. Nothing is held once every time is taken.
 *
 * @param <T> the values' type
 */
public final class TimeBuffer<T> {

    private final MapState<Long, List<T>> state;

    /** @param state the operator's map state from time to the values held for it */
    public TimeBuffer(MapState<Long, List<T>> state) {
        this.state = state;
    }

    /** Hold {@code value} until the watermark passes {@code time}. */
    public void add(long time, T value, TimerService timers) throws Exception {
        List<T> values = state.get(time);
        if (values == null) {
            values = new ArrayList<>(1);
        }
        values.add(value);
        state.put(time, values);
        timers.registerEventTimeTimer(time);
    }

    /** Return whether values are held for {@code time} (its timer must then stay). */
    public boolean contains(long time) throws Exception {
        return state.contains(time);
    }

    /** Return the values held for {@code time} and forget them; {@code null} when there are none. */
    public List<T> take(long time) throws Exception {
        List<T> values = state.get(time);
        if (values != null) {
            state.remove(time);
        }
        return values;
    }
}
