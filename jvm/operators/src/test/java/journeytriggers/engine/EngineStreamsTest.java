package journeytriggers.engine;

import static journeytriggers.engine.TestEvents.pattern;
import static journeytriggers.engine.TestEvents.rule;
import static journeytriggers.engine.TestEvents.rules;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.runtime.typeutils.ExternalSerializer;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * The engine as a step of the job: input rows to events, an anchor's extras carried through
 * a pending state and a snapshot to its candidate, candidates to rows, and score conditions
 * left to the scoring stage.
 */
class EngineStreamsTest {

    private static final String ABSENCE = rule("abs",
            "{\"kind\":\"absence\",\"anchor\":" + pattern("[\"add_to_cart\"]") + ",\"absent\":"
                    + pattern("[\"purchase\"]") + ",\"within_ms\":100,\"within_text\":\"100ms\","
                    + "\"correlate_on\":[],\"latest_only\":true}",
            "null", "[\"add_to_cart\",\"purchase\"]");
    private static final String SCORED = rule("scored", "{\"kind\":\"event\",\"on\":" + pattern("[\"page_view\"]") + "}",
            "{\"op\":\"all\",\"of\":[{\"op\":\"score\",\"gte\":0.5},{\"op\":\"field\",\"field\":\"properties.page\","
                    + "\"test\":\"=\",\"value\":\"/cart\"}]}",
            "[\"page_view\"]");

    private static Row input(String id, String type, long ts, String extras) {
        String record = "{\"event_id\":\"" + id + "\",\"event_type\":\"" + type + "\",\"properties\":"
                + "{\"product_id\":\"p1\",\"page\":\"/home\"}}";
        return Row.of("0:c1", "c1", ts, id, type, record, null, "{\"orders\":2}", extras);
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness(
            String rules, boolean deferScore) throws Exception {
        var harness = new KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate>(
                new KeyedProcessOperator<>(new RuleEngineFunction(rules, deferScore)),
                EngineEvent::customerKey, Types.STRING);
        harness.setup(EngineTypes.CandidateSerializer.INSTANCE);
        return harness;
    }

    @Test
    void inputRowsBecomeEvents() {
        EngineEvent event = new EngineStreams.ToEvent().map(input("e1", "add_to_cart", 1_000L, "{\"x\":1}"));
        assertEquals("0:c1", event.customerKey());
        assertEquals("c1", event.customerId());
        assertEquals(1_000L, event.tsMs());
        assertEquals(2, event.profile().get("orders").intValue());
        assertNull(event.sessionStartMs());
        assertEquals("{\"x\":1}", event.extras());
        assertEquals(EngineStreams.INPUT_COLUMNS.size(), input("e", "t", 1L, null).getArity());
    }

    @Test
    void aPendingAnchorsExtrasSurviveASnapshotAndReachTheCandidateRow() throws Exception {
        ToEventAndSend send = new ToEventAndSend();
        OperatorSubtaskState snapshot;
        try (var harness = harness(rules(ABSENCE), false)) {
            harness.open();
            send.to(harness, input("e1", "add_to_cart", 1_000L, "{\"time_zone\":\"Europe/Paris\"}"));
            harness.processWatermark(1_000L);
            snapshot = harness.snapshot(1L, 1L);
        }
        try (var restored = harness(rules(ABSENCE), false)) {
            restored.initializeState(snapshot);
            restored.open();
            restored.processWatermark(5_000L);
            List<Candidate> out = restored.extractOutputValues();
            assertEquals(1, out.size());
            Row row = new EngineStreams.ToRow().map(out.get(0));
            assertEquals(EngineStreams.OUTPUT_COLUMNS.length, row.getArity());
            assertEquals(EngineStreams.OUTPUT_TYPE.getArity(), row.getArity());
            assertEquals("abs", row.getField(2));
            assertEquals(1_100L, row.getField(4));
            assertArrayEquals(new String[] {"email"}, (String[]) row.getField(6));
            assertEquals(Map.of("p", "p1"), row.getField(7));
            assertEquals("absence", row.getField(9));
            assertEquals("e1", row.getField(11));
            assertArrayEquals(new String[] {"purchase"}, (String[]) row.getField(15));
            assertEquals(1_000L, row.getField(16));
            assertEquals("{\"time_zone\":\"Europe/Paris\"}", row.getField(17));
            assertEquals(0, restored.numKeyedStateEntries());
            assertEquals(0, restored.numEventTimeTimers());
        }
    }

    @Test
    void scoreConditionsAreLeftToTheScoringStageOnlyWhenAsked() throws Exception {
        ToEventAndSend send = new ToEventAndSend();
        for (boolean defer : new boolean[] {false, true}) {
            try (var harness = harness(rules(SCORED), defer)) {
                harness.open();
                // No score reaches the engine in a job, and the page is not /cart: a deferred
                // rule fires on every page_view, for the scoring stage to decide its conditions.
                send.to(harness, input("e1", "page_view", 1_000L, null));
                harness.processWatermark(2_000L);
                assertEquals(defer ? 1 : 0, harness.extractOutputValues().size(), "deferred: " + defer);
            }
        }
        assertEquals(false, Cond.usesScore(RuleSet.parse(rules(ABSENCE)).rules().get(0).conditions));
        assertEquals(true, Cond.usesScore(RuleSet.parse(rules(SCORED)).rules().get(0).conditions));
        assertNull(RuleSet.parse(rules(SCORED), true).rules().get(0).conditions);
    }

    /** Sends input rows through the job's row-to-event step. */
    private static final class ToEventAndSend {
        private final EngineStreams.ToEvent toEvent = new EngineStreams.ToEvent();

        void to(KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness, Row... rows)
                throws Exception {
            for (Row row : rows) {
                EngineEvent event = toEvent.map(row);
                harness.processElement(event, event.tsMs());
            }
        }
    }

    @Test
    void aTextKeyIsTheSameBeforeAndAfterTheRowCrossesTheNetwork() throws Exception {
        ExternalSerializer<Row, Row> serializer = ExternalSerializer.of(
                DataTypes.ROW(DataTypes.FIELD("product_id", DataTypes.STRING())));
        EngineStreams.ByColumn key = new EngineStreams.ByColumn(0);
        for (String text : new String[] {"p1", "p\ud800", "\udc00x\ud800", "\ud83d\ude00", "é"}) {
            Row sent = Row.of(text);
            DataOutputSerializer out = new DataOutputSerializer(64);
            serializer.serialize(sent, out);
            Row received = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
            assertEquals(key.getKey(received), key.getKey(sent), text);
        }
        assertEquals("p1", key.getKey(Row.of("p1")));
        assertNull(key.getKey(Row.of((Object) null)));
    }
}
