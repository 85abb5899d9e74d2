package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

class DecisionMetricsOperatorTest {

    // Decision rows: rule, status, reason, trigger time (epoch ms).
    private static final int RULE = 0;
    private static final int STATUS = 1;
    private static final int REASON = 2;
    private static final int TIME = 3;

    private final RecordedMetrics metrics = new RecordedMetrics();

    private OneInputStreamOperatorTestHarness<Row, Row> harness(
            int reasonField, boolean countCandidates) throws Exception {
        OneInputStreamOperatorTestHarness<Row, Row> harness =
                new OneInputStreamOperatorTestHarness<>(
                        new DecisionMetricsOperator(RULE, STATUS, reasonField, TIME, countCandidates),
                        metrics.environment());
        harness.open();
        return harness;
    }

    private static Row decision(String rule, String status, String reason, Long time) {
        return Row.of(rule, status, reason, time);
    }

    @Test
    void forwardsDecisionRowsAndWatermarksUnchanged() throws Exception {
        Row sent = decision("r1", "send", null, 1_000L);
        Row suppressed = decision("r2", "suppressed", "frequency_cap", 2_000L);
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, false)) {
            harness.processElement(sent, 1_000L);
            harness.processWatermark(1_500L);
            harness.processElement(suppressed, 2_000L);

            assertEquals(
                    List.of(
                            new StreamRecord<>(decision("r1", "send", null, 1_000L), 1_000L),
                            new Watermark(1_500L),
                            new StreamRecord<>(
                                    decision("r2", "suppressed", "frequency_cap", 2_000L), 2_000L)),
                    List.copyOf(harness.getOutput()));
        }
    }

    @Test
    void countsSendAndFiredAsFiredPerRule() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, false)) {
            harness.processElement(decision("r1", "send", null, 1L), 1L);
            harness.processElement(decision("r1", "fired", null, 2L), 2L);
            harness.processElement(decision("r2", "send", null, 3L), 3L);

            metrics.assertCount(2, harness, "rule", "r1", "fired");
            metrics.assertCount(1, harness, "rule", "r2", "fired");
        }
    }

    @Test
    void countsSuppressedPerRuleAndReasonWithTheStatusAsDefaultReason() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, false)) {
            harness.processElement(decision("r1", "suppressed", "frequency_cap", 1L), 1L);
            harness.processElement(decision("r1", "suppressed", "frequency_cap", 2L), 2L);
            harness.processElement(decision("r1", "suppressed", "quiet_hours", 3L), 3L);
            harness.processElement(decision("r1", "holdout", null, 4L), 4L);
            harness.processElement(decision("r1", "suppressed", null, 5L), 5L);

            metrics.assertCount(2, harness, "rule", "r1", "reason", "frequency_cap", "suppressed");
            metrics.assertCount(1, harness, "rule", "r1", "reason", "quiet_hours", "suppressed");
            metrics.assertCount(1, harness, "rule", "r1", "reason", "holdout", "suppressed");
            metrics.assertCount(1, harness, "rule", "r1", "reason", "suppressed", "suppressed");
            assertFalse(metrics.of(harness).containsKey("rule.r1.fired"));
        }
    }

    @Test
    void withoutAReasonFieldCountsSuppressedUnderTheStatus() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(-1, false)) {
            harness.processElement(decision("r1", "holdout", "ignored", 1L), 1L);
            harness.processElement(decision("r1", "suppressed", "ignored", 2L), 2L);

            metrics.assertCount(1, harness, "rule", "r1", "reason", "holdout", "suppressed");
            metrics.assertCount(1, harness, "rule", "r1", "reason", "suppressed", "suppressed");
            assertFalse(metrics.of(harness).containsKey("rule.r1.reason.ignored.suppressed"));
        }
    }

    @Test
    void countsOtherStatusesUnderTheirOwnNameSuchAsDeferred() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, false)) {
            harness.processElement(decision("r1", "deferred", null, 1L), 1L);
            harness.processElement(decision("r1", "deferred", null, 2L), 2L);

            metrics.assertCount(2, harness, "rule", "r1", "deferred");
        }
    }

    @Test
    void countsEveryRowAsACandidateOnlyWhenAsked() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, true)) {
            harness.processElement(decision("r1", "fired", null, 1L), 1L);
            harness.processElement(decision("r1", "suppressed", "holdout", 2L), 2L);
            harness.processElement(decision("r2", "fired", null, 3L), 3L);

            metrics.assertCount(2, harness, "rule", "r1", "candidates");
            metrics.assertCount(1, harness, "rule", "r2", "candidates");
        }
        RecordedMetrics without = new RecordedMetrics();
        try (OneInputStreamOperatorTestHarness<Row, Row> harness =
                new OneInputStreamOperatorTestHarness<>(
                        new DecisionMetricsOperator(RULE, STATUS, REASON, TIME, false),
                        without.environment())) {
            harness.open();
            harness.processElement(decision("r1", "fired", null, 1L), 1L);

            assertEquals(
                    Set.of("decision_latency_ms", "rule.r1.fired"),
                    Set.copyOf(
                            without.of(harness).keySet().stream()
                                    .filter(name -> name.startsWith("rule.") || name.startsWith("decision_"))
                                    .toList()));
        }
    }

    @Test
    void timesEachDecisionFromItsTriggerTimeToTheEmit() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness(REASON, false)) {
            long before = System.currentTimeMillis();
            harness.processElement(decision("r1", "send", null, before - 5_000L), 1L);
            harness.processElement(decision("r1", "send", null, before - 1_000L), 2L);
            // No trigger time: counted, not timed.
            harness.processElement(decision("r1", "send", null, null), 3L);
            long after = System.currentTimeMillis();

            Histogram latency = metrics.histogram(harness, "decision_latency_ms");
            assertEquals(2, latency.getCount());
            long min = latency.getStatistics().getMin();
            long max = latency.getStatistics().getMax();
            assertTrue(min >= 1_000L && min <= 1_000L + (after - before), "min " + min);
            assertTrue(max >= 5_000L && max <= 5_000L + (after - before), "max " + max);
            metrics.assertCount(3, harness, "rule", "r1", "fired");
        }
    }
}
