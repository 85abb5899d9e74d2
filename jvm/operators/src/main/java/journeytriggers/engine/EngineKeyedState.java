package journeytriggers.engine;

import java.util.function.Consumer;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.TimerService;
import journeytriggers.TimeBuffer;

/**
 * The engine's keyed state in a Flink function ({@link EngineDescriptors}): each customer's
 * buffered events, rule states and agenda, and the timers that drive them. The functions that
 * run the engine ({@link RuleEngineFunction}, {@link ControlledRuleEngineFunction}) differ only
 * in where the rules of a time come from.
 */
final class EngineKeyedState {

    private final TimeBuffer<EngineEvent> buffer;
    private final MapState<String, RuleState> ruleStates;
    private final ValueState<Agenda> agenda;
    private final Counter lateEvents;
    private final Store store = new Store();

    EngineKeyedState(RuntimeContext context, long stateTtlMs) {
        buffer = new TimeBuffer<>(context.getMapState(
                EngineDescriptors.withTtl(EngineDescriptors.buffer(), stateTtlMs)));
        ruleStates = context.getMapState(EngineDescriptors.withTtl(EngineDescriptors.ruleState(), stateTtlMs));
        agenda = context.getState(EngineDescriptors.withTtl(EngineDescriptors.agenda(), stateTtlMs));
        lateEvents = context.getMetricGroup().counter("engine_late_events");
    }

    /**
     * Buffers the current customer's event until the watermark passes it; returns false (and
     * counts it) if it is late: at or before the watermark.
     */
    boolean add(EngineEvent event, TimerService timers) throws Exception {
        long ts = event.tsMs();
        if (ts <= timers.currentWatermark()) {
            lateEvents.inc();
            return false;
        }
        buffer.add(ts, event, timers);
        return true;
    }

    /** Runs the current customer's time {@code t} (a timer) through {@code engine}. */
    void onTime(CustomerEngine engine, long t, TimerService timers, Consumer<Candidate> out) throws Exception {
        engine.onTime(t, buffer.take(t), store, new Timers(timers), out);
    }

    /** The current customer's rule states and agenda, in keyed state. */
    private final class Store implements CustomerEngine.Store {
        @Override
        public RuleState get(String ruleKey) throws Exception {
            return ruleStates.get(ruleKey);
        }

        @Override
        public void put(String ruleKey, RuleState state) throws Exception {
            ruleStates.put(ruleKey, state);
        }

        @Override
        public void remove(String ruleKey) throws Exception {
            ruleStates.remove(ruleKey);
        }

        @Override
        public Agenda agenda() throws Exception {
            return agenda.value();
        }

        @Override
        public void agenda(Agenda next) throws Exception {
            if (next == null) {
                agenda.clear();
            } else {
                agenda.update(next);
            }
        }
    }

    /** Deadline timers; a time that still has buffered events keeps its timer. */
    private final class Timers implements CustomerEngine.Timers {
        private final TimerService timers;

        Timers(TimerService timers) {
            this.timers = timers;
        }

        @Override
        public void register(long time) {
            timers.registerEventTimeTimer(time);
        }

        @Override
        public void delete(long time) throws Exception {
            if (!buffer.contains(time)) {
                timers.deleteEventTimeTimer(time);
            }
        }
    }
}
