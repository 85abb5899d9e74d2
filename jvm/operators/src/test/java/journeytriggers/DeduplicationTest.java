package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * Dropping copies: a copy within the horizon is dropped and counted, a different record under
 * the same id is a conflict, the order is (time, id, text) whatever the arrival, an id is
 * forgotten after the horizon, and state and timers fall to zero.
 */
class DeduplicationTest {

    private static final long HORIZON = 100L;
    private static final TypeInformation<Row> TYPE = Types.ROW(Types.STRING, Types.STRING, Types.STRING,
            Types.STRING, Types.INSTANT, Types.LONG, Types.STRING);

    private static Row record(String id, String customer, long ts, String text) {
        return Row.of(id, "page_view", customer, null, Instant.ofEpochMilli(ts), ts, text);
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, Row, Row> harness() throws Exception {
        var harness = new KeyedOneInputStreamOperatorTestHarness<String, Row, Row>(
                new KeyedProcessOperator<>(new Deduplication.DeduplicateFunction(HORIZON, TYPE)),
                new Deduplication.OwnIdentity(), Types.STRING);
        harness.setup();
        return harness;
    }

    private static void send(KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h, Row row) throws Exception {
        h.processElement(new StreamRecord<>(row, (Long) row.getField(5)));
    }

    private static List<String> kept(KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h) {
        List<String> out = new ArrayList<>();
        for (Object record : h.getOutput()) {
            if (record instanceof StreamRecord<?> stream) {
                Row row = (Row) stream.getValue();
                out.add(row.getField(0) + "@" + row.getField(5) + ":" + row.getField(6));
            }
        }
        return out;
    }

    private static List<String> side(KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h, boolean conflicts) {
        var tag = conflicts ? Deduplication.conflictsTag(TYPE) : Deduplication.duplicatesTag(TYPE);
        List<String> out = new ArrayList<>();
        var records = h.getSideOutput(tag);
        if (records != null) {
            for (StreamRecord<Row> record : records) {
                out.add(record.getValue().getField(0) + "@" + record.getValue().getField(5) + ":"
                        + record.getValue().getField(6));
            }
        }
        return out;
    }

    @Test
    void copiesAreDroppedAndConflictsSetAsideInTimeIdTextOrder() throws Exception {
        try (var h = harness()) {
            h.open();
            send(h, record("e1", "c1", 20L, "B")); // arrives first, but "A" sorts first at 20
            send(h, record("e1", "c1", 20L, "A"));
            send(h, record("e1", "c1", 10L, "A")); // earliest: the one kept
            send(h, record("e1", "c1", 10L, "A")); // the same record twice
            send(h, record("e1", "c2", 10L, "A")); // another customer: its own event
            send(h, record("e2", "c1", 10L, "Z"));
            h.processWatermark(50L);
            List<String> kept = kept(h);
            kept.sort(null);
            assertEquals(List.of("e1@10:A", "e1@10:A", "e2@10:Z"), kept); // c1's and c2's e1
            assertEquals(List.of("e1@10:A", "e1@20:A"), side(h, false));
            assertEquals(List.of("e1@20:B"), side(h, true));
        }
    }

    @Test
    void anIdIsForgottenAfterTheHorizonAndNothingIsLeft() throws Exception {
        try (var h = harness()) {
            h.open();
            send(h, record("e1", "c1", 10L, "A"));
            send(h, record("e1", "c1", 10L + HORIZON, "A")); // at the horizon: still a copy
            send(h, record("e1", "c1", 11L + HORIZON, "A")); // past it: a new event
            h.processWatermark(10L + HORIZON);
            assertEquals(List.of("e1@10:A"), kept(h));
            h.processWatermark(150L);
            assertEquals(List.of("e1@10:A", "e1@111:A"), kept(h));
            h.processWatermark(1_000L); // past the new one's horizon
            assertEquals(List.of("e1@110:A"), side(h, false));
            assertEquals(0, h.numKeyedStateEntries(), "keyed state entries");
            assertEquals(0, h.numEventTimeTimers(), "timers");
        }
    }

    @Test
    void pendingRecordsAndKeptIdsSurviveASnapshot() throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = harness()) {
            h.open();
            send(h, record("e1", "c1", 10L, "A"));
            h.processWatermark(10L);
            send(h, record("e1", "c1", 30L, "A"));
            snapshot = h.snapshot(1L, 1L);
        }
        try (var restored = harness()) {
            restored.initializeState(snapshot);
            restored.open();
            send(restored, record("e1", "c1", 40L, "B"));
            restored.processWatermark(Long.MAX_VALUE);
            assertEquals(List.of(), kept(restored));
            assertEquals(List.of("e1@30:A"), side(restored, false));
            assertEquals(List.of("e1@40:B"), side(restored, true));
            assertEquals(0, restored.numKeyedStateEntries());
        }
    }
}
