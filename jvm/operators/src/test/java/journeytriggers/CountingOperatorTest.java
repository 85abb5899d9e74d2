package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

class CountingOperatorTest {

    private final RecordedMetrics metrics = new RecordedMetrics();

    private OneInputStreamOperatorTestHarness<Row, Row> harness(String metric) throws Exception {
        OneInputStreamOperatorTestHarness<Row, Row> harness =
                new OneInputStreamOperatorTestHarness<>(
                        new CountingOperator<>(metric), metrics.environment());
        harness.open();
        return harness;
    }

    @Test
    void forwardsRecordsUnchangedWithTheirTimestamps() throws Exception {
        Row late = Row.of("c1", "page_view", 1_000L);
        Row dead = Row.of("c2", null, 2_000L);
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness("late_events")) {
            harness.processElement(late, 10L);
            harness.processElement(dead, 20L);

            List<Object> output = List.copyOf(harness.getOutput());
            assertEquals(List.of(new StreamRecord<>(late, 10L), new StreamRecord<>(dead, 20L)), output);
        }
    }

    @Test
    void countsEveryRecordInItsNamedCounterOnTheOperatorGroup() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness("dead_letters")) {
            metrics.assertCount(0, harness, "dead_letters");

            for (int i = 0; i < 3; i++) {
                harness.processElement(Row.of("c" + i), i);
            }

            metrics.assertCount(3, harness, "dead_letters");
        }
    }

    @Test
    void forwardsWatermarksWithoutCountingThem() throws Exception {
        try (OneInputStreamOperatorTestHarness<Row, Row> harness = harness("late_events")) {
            harness.processElement(Row.of("c1"), 5L);
            harness.processWatermark(7L);

            assertEquals(
                    List.of(new StreamRecord<>(Row.of("c1"), 5L), new Watermark(7L)),
                    List.copyOf(harness.getOutput()));
            metrics.assertCount(1, harness, "late_events");
        }
    }
}
