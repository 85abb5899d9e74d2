package journeytriggers;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Forwards decision rows unchanged, counting them per rule and timing them.
 *
 * <p>Each row has the rule id, the status, the suppression reason (or null) and the trigger time
 * (epoch ms, event time) at the given field positions. Per rule (a {@code rule} key-value group,
 * a label in Prometheus) it counts {@code fired} (status {@code send}, or {@code fired} without a
 * policy), {@code suppressed} per {@code reason} (status {@code suppressed} or {@code holdout})
 * and {@code deferred}; with {@code countCandidates} every row is also a {@code candidates}
 * count (no policy: every trigger is a decision). The histogram {@code decision_latency_ms} takes
 * the wall-clock time of the emit minus the trigger time: live, how long after the customer's
 * moment the decision came out.
 */
public final class DecisionMetricsOperator extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<Row, Row> {

    private static final long serialVersionUID = 1L;
    private static final int LATENCY_WINDOW = 10_000;

    private final int ruleField;
    private final int statusField;
    private final int reasonField;
    private final int timeField;
    private final boolean countCandidates;

    private transient Map<String, Counter> counters;
    private transient Histogram latency;

    public DecisionMetricsOperator(
            int ruleField, int statusField, int reasonField, int timeField, boolean countCandidates) {
        this.ruleField = ruleField;
        this.statusField = statusField;
        this.reasonField = reasonField;
        this.timeField = timeField;
        this.countCandidates = countCandidates;
    }

    @Override
    public void open() throws Exception {
        super.open();
        counters = new HashMap<>();
        latency =
                getMetricGroup()
                        .histogram(
                                "decision_latency_ms",
                                new DescriptiveStatisticsHistogram(LATENCY_WINDOW));
    }

    private Counter counter(String rule, String name, String reason) {
        String key = rule + "\u0000" + name + "\u0000" + reason;
        Counter counter = counters.get(key);
        if (counter == null) {
            MetricGroup group = getMetricGroup().addGroup("rule", rule);
            if (reason != null) {
                group = group.addGroup("reason", reason);
            }
            counter = group.counter(name);
            counters.put(key, counter);
        }
        return counter;
    }

    @Override
    public void processElement(StreamRecord<Row> element) {
        Row row = element.getValue();
        String rule = String.valueOf(row.getField(ruleField));
        String status = String.valueOf(row.getField(statusField));
        if (countCandidates) {
            counter(rule, "candidates", null).inc();
        }
        switch (status) {
            case "send":
            case "fired":
                counter(rule, "fired", null).inc();
                break;
            case "suppressed":
            case "holdout":
                Object reason = reasonField < 0 ? null : row.getField(reasonField);
                counter(rule, "suppressed", reason == null ? status : reason.toString()).inc();
                break;
            default:
                counter(rule, status, null).inc();
        }
        Object time = row.getField(timeField);
        if (time instanceof Number) {
            latency.update(System.currentTimeMillis() - ((Number) time).longValue());
        }
        output.collect(element);
    }
}
