package journeytriggers.bench;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The benchmark's JVM parse-and-count baseline: the least a Java job does with these events.
 *
 * <pre>
 * java -cp journey-triggers-bench.jar:PYFLINK/lib/* journeytriggers.bench.ParseAndCountJob \
 *     --input EVENTS.jsonl [--parallelism 2] [--out-of-orderness-ms 10000] \
 *     [--checkpoint-interval-ms 5000] [--checkpoint-dir URI]
 * </pre>
 *
 * <p>File lines, one Jackson parse each ({@link EventParser}), bounded-out-of-orderness
 * watermarks on {@code ts}, then a count per event type per one-minute tumbling event-time
 * window (the same counts as the project's SQL ceiling, tests/perf/ceiling.py) into a
 * discarding sink. Events behind the watermark are counted ({@code late}), not windowed.
 *
 * <p>Prints one JSON line on stdout: {@code {"job": "java_parse_count", "events", "invalid",
 * "windows", "late", "seconds", "events_per_s", "job_runtime_s"}}; see
 * {@link BenchJob#resultLine}.
 */
public final class ParseAndCountJob {

    static final String JOB = "java_parse_count";
    static final String WINDOWS = "windows";
    static final String LATE = "late";

    private static final OutputTag<BenchEvent> LATE_TAG =
            new OutputTag<>("late", TypeInformation.of(BenchEvent.class));

    private ParseAndCountJob() {}

    public static void main(String[] args) throws Exception {
        BenchOptions options =
                BenchJob.options(ParseAndCountJob.class.getName(), args, BenchJob.COMMON_FLAGS);
        StreamExecutionEnvironment env =
                BenchJob.environment(options, "journey-triggers-bench-parse-count");
        long started = System.nanoTime();

        DataStream<BenchEvent> events = BenchJob.events(env, options);
        SingleOutputStreamOperator<TypeCount> counts =
                events.keyBy(event -> event.type, Types.STRING)
                        .window(TumblingEventTimeWindows.of(Duration.ofMinutes(1)))
                        .sideOutputLateData(LATE_TAG)
                        .aggregate(new CountEvents(), new EmitCount())
                        .name("count per type and minute");
        BenchJob.countAndDiscard(counts, WINDOWS);
        BenchJob.countAndDiscard(counts.getSideOutput(LATE_TAG), LATE);

        JobExecutionResult result = env.execute();
        double seconds = (System.nanoTime() - started) / 1e9;
        Map<String, Long> totals = new LinkedHashMap<>();
        totals.put(WINDOWS, BenchJob.total(result, WINDOWS));
        totals.put(LATE, BenchJob.total(result, LATE));
        System.out.println(BenchJob.resultLine(JOB, result, totals, seconds));
    }

    /** Counts a window's events. */
    static final class CountEvents implements AggregateFunction<BenchEvent, Long, Long> {

        private static final long serialVersionUID = 1L;

        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(BenchEvent event, Long count) {
            return count + 1;
        }

        @Override
        public Long getResult(Long count) {
            return count;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    /** Emits a window's count with its type and start. */
    static final class EmitCount extends ProcessWindowFunction<Long, TypeCount, String, TimeWindow> {

        private static final long serialVersionUID = 1L;

        @Override
        public void process(
                String type, Context context, Iterable<Long> counts, Collector<TypeCount> out) {
            out.collect(new TypeCount(type, context.window().getStart(), counts.iterator().next()));
        }
    }
}
