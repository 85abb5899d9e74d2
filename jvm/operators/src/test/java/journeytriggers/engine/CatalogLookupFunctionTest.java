package journeytriggers.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * The catalog lookup: the latest version at or before a candidate's time (the later of two at
 * the same time), only once both inputs' watermarks passed it, with versions kept for the
 * retention behind the watermark and the pending candidates' state and timers cleaned up.
 */
class CatalogLookupFunctionTest {

    private static final long RETENTION = 1_000L;

    private static KeyedTwoInputStreamOperatorTestHarness<String, Row, Row, Row> harness() throws Exception {
        var harness = new KeyedTwoInputStreamOperatorTestHarness<String, Row, Row, Row>(
                new KeyedCoProcessOperator<>(new CatalogLookupFunction(1, RETENTION,
                        Types.ROW(Types.STRING, Types.LONG))),
                row -> (String) row.getField(0), row -> (String) row.getField(0), Types.STRING);
        harness.open();
        return harness;
    }

    private static Row version(double price, long at) {
        return Row.of("p1", "shoes", price, "high", at);
    }

    private static void candidate(KeyedTwoInputStreamOperatorTestHarness<String, Row, Row, Row> h, long at)
            throws Exception {
        h.processElement1(new StreamRecord<>(Row.of("p1", at), at));
    }

    private static List<String> prices(KeyedTwoInputStreamOperatorTestHarness<String, Row, Row, Row> h) {
        List<String> out = new ArrayList<>();
        for (Object record : h.getOutput()) {
            if (record instanceof StreamRecord<?> stream) {
                Row row = (Row) stream.getValue();
                out.add(row.getField(1) + ":" + row.getField(2) + ":" + row.getField(4));
            }
        }
        return out;
    }

    @Test
    void aCandidateWaitsForBothWatermarksAndGetsTheVersionInEffect() throws Exception {
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(version(10.0, 100L), 100L));
            h.processElement2(new StreamRecord<>(version(11.0, 100L), 100L)); // same time: later wins
            h.processElement2(new StreamRecord<>(version(12.0, 300L), 300L));
            candidate(h, 50L);
            candidate(h, 200L);
            h.processWatermark1(new org.apache.flink.streaming.api.watermark.Watermark(500L));
            assertTrue(prices(h).isEmpty(), "the catalog's watermark has not passed the candidates");
            h.processWatermark2(new org.apache.flink.streaming.api.watermark.Watermark(250L));
            assertEquals(List.of("50:false:null", "200:true:11.0"), prices(h));
            h.processWatermark2(new org.apache.flink.streaming.api.watermark.Watermark(600L));
            candidate(h, 400L); // behind the watermark, within the retention: looked up at once
            assertEquals(List.of("50:false:null", "200:true:11.0", "400:true:12.0"), prices(h));
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    @Test
    void versionsOlderThanTheRetentionGoExceptTheLatestOfThem() throws Exception {
        try (var h = harness()) {
            for (long at : new long[] {100L, 200L, 300L, 5_000L}) {
                h.processElement2(new StreamRecord<>(version(at / 100.0, at), at));
            }
            h.processWatermark1(new org.apache.flink.streaming.api.watermark.Watermark(2_000L));
            h.processWatermark2(new org.apache.flink.streaming.api.watermark.Watermark(2_000L));
            h.processElement2(new StreamRecord<>(version(60.0, 6_000L), 6_000L)); // expires at 1_000
            // 100 and 200 are gone; 300 (the latest at or before 1_000), 5_000 and 6_000 stay.
            candidate(h, 1_500L);
            candidate(h, 5_500L); // ahead of the watermark: waits
            // Behind the retention (no candidate of a job is): the versions before 300 are gone.
            candidate(h, 250L);
            assertEquals(List.of("1500:true:3.0", "250:false:null"), prices(h));
            h.processWatermark1(new org.apache.flink.streaming.api.watermark.Watermark(6_000L));
            h.processWatermark2(new org.apache.flink.streaming.api.watermark.Watermark(6_000L));
            assertEquals(List.of("1500:true:3.0", "250:false:null", "5500:true:50.0"), prices(h));
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    @Test
    void aWatermarkJumpPastSeveralPendingCandidatesKeepsTheVersionsTheyNeed() throws Exception {
        // A catalog read whole has no watermark until its end, then MAX: the candidates' timers
        // then fire in one go. The first timer must not expire the versions the later ones need.
        try (var h = harness()) {
            h.processElement2(new StreamRecord<>(version(40.0, 0L), 0L));
            h.processElement2(new StreamRecord<>(version(31.0, 50_000L), 50_000L));
            candidate(h, 10_000L);
            candidate(h, 20_000L);
            candidate(h, 60_000L);
            h.processWatermark1(new org.apache.flink.streaming.api.watermark.Watermark(70_000L));
            h.processWatermark2(new org.apache.flink.streaming.api.watermark.Watermark(Long.MAX_VALUE));
            assertEquals(List.of("10000:true:40.0", "20000:true:40.0", "60000:true:31.0"), prices(h));
            assertEquals(0, h.numEventTimeTimers());
        }
    }
}
