package journeytriggers.bench;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

/** Forwards each record unchanged and counts it in an accumulator (read after the job). */
final class CountingMap<T> extends RichMapFunction<T, T> {

    private static final long serialVersionUID = 1L;

    private final String accumulator;
    private transient LongCounter counter;

    CountingMap(String accumulator) {
        this.accumulator = accumulator;
    }

    @Override
    public void open(OpenContext openContext) {
        counter = getRuntimeContext().getLongCounter(accumulator);
    }

    @Override
    public T map(T value) {
        counter.add(1L);
        return value;
    }
}
