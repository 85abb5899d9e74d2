package journeytriggers.bench;

import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.cep.CEP;
import org.apache.flink.cep.functions.PatternProcessFunction;
import org.apache.flink.cep.functions.TimedOutPartialMatchHandler;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.conditions.SimpleCondition;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The benchmark's Java CEP baseline: cart abandonment as a Java user would write it with Flink
 * CEP, over the same events as the project's built-in rule.
 *
 * <pre>
 * java -cp journey-triggers-bench.jar:PYFLINK/lib/* journeytriggers.bench.CepAbandonmentJob \
 *     --input EVENTS.jsonl [--parallelism 2] [--out-of-orderness-ms 10000] \
 *     [--within-ms 900000] [--checkpoint-interval-ms 5000] [--checkpoint-dir URI]
 * </pre>
 *
 * <p>File lines, one Jackson parse each ({@link EventParser}), bounded-out-of-orderness
 * watermarks on {@code ts}, keyed by the customer key (before identity stitching), then
 * {@code begin("cart").where(add_to_cart).notFollowedBy("purchase").where(purchase)
 * .within(15 min)} in event time. Every add_to_cart starts its own match; a purchase of the
 * same customer less than {@code within} after it (in event-time order; at the same
 * millisecond, after it in arrival order) ends the match; otherwise it is an alert, emitted
 * once the watermark reaches cart + within. In Flink 2.2 a pattern ending in notFollowedBy
 * with a window emits that alert as a match (its pending state completes at the window's end),
 * not as a timed-out partial match; the function takes both, and the result line counts them
 * apart ({@code alerts} is their sum, {@code timed_out_partial_matches} the second). Events
 * behind the watermark are CEP's late data: counted ({@code late}), not matched.
 *
 * <p>Prints one JSON line on stdout: {@code {"job": "java_cep_abandonment", "events",
 * "invalid", "alerts", "timed_out_partial_matches", "late", "seconds", "events_per_s",
 * "job_runtime_s"}}; see {@link BenchJob#resultLine}.
 */
public final class CepAbandonmentJob {

    static final String JOB = "java_cep_abandonment";
    static final String ALERTS = "alerts";
    static final String TIMED_OUT = "timed_out_partial_matches";
    static final String LATE = "late";

    private static final OutputTag<Alert> TIMED_OUT_TAG =
            new OutputTag<>("timed-out", TypeInformation.of(Alert.class));
    private static final OutputTag<BenchEvent> LATE_TAG =
            new OutputTag<>("late", TypeInformation.of(BenchEvent.class));

    private CepAbandonmentJob() {}

    public static void main(String[] args) throws Exception {
        Set<String> flags = new HashSet<>(BenchJob.COMMON_FLAGS);
        flags.add("--within-ms");
        BenchOptions options = BenchJob.options(CepAbandonmentJob.class.getName(), args, flags);
        StreamExecutionEnvironment env = BenchJob.environment(options, "journey-triggers-bench-cep");
        long started = System.nanoTime();

        DataStream<BenchEvent> events = BenchJob.events(env, options);
        Pattern<BenchEvent, BenchEvent> abandonment =
                Pattern.<BenchEvent>begin("cart")
                        .where(SimpleCondition.of(event -> "add_to_cart".equals(event.type)))
                        .notFollowedBy("purchase")
                        .where(SimpleCondition.of(event -> "purchase".equals(event.type)))
                        .within(Duration.ofMillis(options.withinMs));
        SingleOutputStreamOperator<Alert> alerts =
                CEP.pattern(events.keyBy(event -> event.customer, Types.STRING), abandonment)
                        .inEventTime()
                        .sideOutputLateData(LATE_TAG)
                        .process(new AbandonmentAlerts(), TypeInformation.of(Alert.class))
                        .name("cart abandonment (CEP)");
        BenchJob.countAndDiscard(alerts, ALERTS);
        BenchJob.countAndDiscard(alerts.getSideOutput(TIMED_OUT_TAG), TIMED_OUT);
        BenchJob.countAndDiscard(alerts.getSideOutput(LATE_TAG), LATE);

        JobExecutionResult result = env.execute();
        double seconds = (System.nanoTime() - started) / 1e9;
        long matched = BenchJob.total(result, ALERTS);
        long timedOut = BenchJob.total(result, TIMED_OUT);
        Map<String, Long> counts = new LinkedHashMap<>();
        counts.put(ALERTS, matched + timedOut);
        counts.put(TIMED_OUT, timedOut);
        counts.put(LATE, BenchJob.total(result, LATE));
        System.out.println(BenchJob.resultLine(JOB, result, counts, seconds));
    }

    /** One alert per cart that no purchase followed within the window. */
    static final class AbandonmentAlerts extends PatternProcessFunction<BenchEvent, Alert>
            implements TimedOutPartialMatchHandler<BenchEvent> {

        private static final long serialVersionUID = 1L;

        @Override
        public void processMatch(
                Map<String, List<BenchEvent>> match, Context ctx, Collector<Alert> out) {
            BenchEvent cart = match.get("cart").get(0);
            out.collect(new Alert(cart.customer, cart.ts));
        }

        @Override
        public void processTimedOutMatch(Map<String, List<BenchEvent>> match, Context ctx) {
            BenchEvent cart = match.get("cart").get(0);
            ctx.output(TIMED_OUT_TAG, new Alert(cart.customer, cart.ts));
        }
    }
}
