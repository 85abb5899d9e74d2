package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

class NeverIdleOperatorTest {

    /** What Flink's operators do with a watermark status: pass it on. */
    private static final class Forwarding extends AbstractStreamOperator<String>
            implements OneInputStreamOperator<String, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public void processElement(StreamRecord<String> element) {
            output.collect(element);
        }
    }

    private static void idleThenActive(OneInputStreamOperatorTestHarness<String, String> harness)
            throws Exception {
        harness.processElement("a", 1L);
        harness.processWatermark(1L);
        harness.processWatermarkStatus(WatermarkStatus.IDLE);
        harness.processWatermarkStatus(WatermarkStatus.ACTIVE);
        harness.processElement("b", 2L);
        harness.processWatermark(2L);
    }

    @Test
    void forwardsRecordsAndWatermarksButNeverAWatermarkStatus() throws Exception {
        try (OneInputStreamOperatorTestHarness<String, String> harness =
                new OneInputStreamOperatorTestHarness<>(new NeverIdleOperator<>())) {
            harness.open();
            idleThenActive(harness);

            assertEquals(
                    List.of(
                            new StreamRecord<>("a", 1L),
                            new Watermark(1L),
                            new StreamRecord<>("b", 2L),
                            new Watermark(2L)),
                    List.copyOf(harness.getOutput()));
        }
    }

    @Test
    void theHarnessWouldShowAForwardedWatermarkStatus() throws Exception {
        // The control for the test above: a forwarding operator's IDLE and ACTIVE are output.
        try (OneInputStreamOperatorTestHarness<String, String> harness =
                new OneInputStreamOperatorTestHarness<>(new Forwarding())) {
            harness.open();
            idleThenActive(harness);

            assertEquals(
                    List.of(
                            new StreamRecord<>("a", 1L),
                            new Watermark(1L),
                            WatermarkStatus.IDLE,
                            WatermarkStatus.ACTIVE,
                            new StreamRecord<>("b", 2L),
                            new Watermark(2L)),
                    List.copyOf(harness.getOutput()));
        }
    }
}
