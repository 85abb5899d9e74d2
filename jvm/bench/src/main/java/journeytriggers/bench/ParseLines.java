package journeytriggers.bench;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.util.Collector;

/** Parses each line once ({@link EventParser}); counts every line and the invalid ones. */
final class ParseLines extends RichFlatMapFunction<String, BenchEvent> {

    private static final long serialVersionUID = 1L;

    static final String EVENTS = "events";
    static final String INVALID = "invalid";

    private transient LongCounter events;
    private transient LongCounter invalid;

    @Override
    public void open(OpenContext openContext) {
        events = getRuntimeContext().getLongCounter(EVENTS);
        invalid = getRuntimeContext().getLongCounter(INVALID);
    }

    @Override
    public void flatMap(String line, Collector<BenchEvent> out) {
        events.add(1L);
        BenchEvent event = EventParser.parse(line);
        if (event == null) {
            invalid.add(1L);
        } else {
            out.collect(event);
        }
    }
}
