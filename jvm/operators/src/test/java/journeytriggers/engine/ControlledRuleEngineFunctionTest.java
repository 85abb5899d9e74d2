package journeytriggers.engine;

import static journeytriggers.engine.TestEvents.event;
import static journeytriggers.engine.TestEvents.pattern;
import static journeytriggers.engine.TestEvents.rule;
import static journeytriggers.engine.TestEvents.rules;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.heap.HeapKeyedStateBackend;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * Rules changed live (the rules control topic): each time is evaluated with the rules in force
 * then; unchanged rules keep their state; an edited, disabled or removed rule's pending state
 * never fires and goes; stale and unknown changes are rejected; the timeline survives a
 * snapshot; state and timers fall to zero.
 */
class ControlledRuleEngineFunctionTest {

    private static final String ABSENCE = absence(1);
    private static final String EVENT = rule("ev", "{\"kind\":\"event\",\"on\":" + pattern("[\"page_view\"]") + "}",
            "null", "[\"page_view\"]");

    private static String absence(int version) {
        return rule("abs",
                "{\"kind\":\"absence\",\"anchor\":" + pattern("[\"add_to_cart\"]") + ",\"absent\":"
                        + pattern("[\"purchase\"]") + ",\"within_ms\":100,\"within_text\":\"100ms\","
                        + "\"correlate_on\":[],\"latest_only\":true}",
                "null", "[\"add_to_cart\",\"purchase\"]")
                .replace("\"version\":1", "\"version\":" + version);
    }

    private static Row put(String ruleIr, long effective, long offset) {
        String id = Json.parse(ruleIr).get("id").textValue();
        return change("{\"op\":\"put\",\"rule_id\":\"" + id + "\",\"effective_ms\":" + effective + ",\"rule\":"
                + ruleIr + "}", offset);
    }

    private static Row op(String op, String id, long effective, long offset) {
        return change("{\"op\":\"" + op + "\",\"rule_id\":\"" + id + "\",\"effective_ms\":" + effective
                + ",\"rule\":null}", offset);
    }

    private static Row change(String json, long offset) {
        return Row.of(json, "rules", 0, offset, "raw-" + offset);
    }

    private static KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> harness(String rules)
            throws Exception {
        var harness = unopened(rules);
        harness.open();
        return harness;
    }

    private static KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> unopened(String rules)
            throws Exception {
        var harness = new KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate>(
                new CoBroadcastWithKeyedOperator<>(new ControlledRuleEngineFunction(rules, false, 0L),
                        List.of(ControlledRuleEngineFunction.changesDescriptor())),
                EngineEvent::customerKey, Types.STRING, 1, 1, 0);
        harness.setup(EngineTypes.CandidateSerializer.INSTANCE);
        return harness;
    }

    private static void send(KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> h,
            EngineEvent... events) throws Exception {
        for (EngineEvent event : events) {
            h.processElement(event, event.tsMs());
        }
    }

    private static void watermark(KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> h, long at)
            throws Exception {
        h.processWatermark(at);
        h.processBroadcastWatermark(at);
    }

    /** "rule@version:trigger time" of each candidate so far. */
    private static List<String> fired(KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> h) {
        List<String> out = new ArrayList<>();
        for (Object record : h.getOutput()) {
            if (record instanceof StreamRecord<?> stream && stream.getValue() instanceof Candidate c) {
                out.add(c.ruleId() + "@" + c.ruleVersion() + ":" + c.triggerTimeMs());
            }
        }
        return out;
    }

    private static List<String> rejected(KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> h) {
        List<String> out = new ArrayList<>();
        var records = h.getSideOutput(ControlledRuleEngineFunction.REJECTED);
        if (records != null) {
            for (StreamRecord<Row> record : records) {
                String reason = (String) record.getValue().getField(0);
                out.add(reason.substring(0, reason.indexOf(':')) + "@" + record.getValue().getField(3));
            }
        }
        return out;
    }

    private static void assertNothingLeft(KeyedBroadcastOperatorTestHarness<String, EngineEvent, Row, Candidate> h) {
        var backend = ((AbstractStreamOperator<?>) h.getOperator()).getKeyedStateBackend();
        assertEquals(0, ((HeapKeyedStateBackend<?>) backend).numKeyValueStateEntries(), "keyed state entries");
        assertEquals(0, h.numEventTimeTimers(), "event-time timers");
    }

    @Test
    void anUnchangedRuleKeepsItsPendingStateWhenAnotherRuleIsAdded() throws Exception {
        try (var h = harness(rules(ABSENCE))) {
            send(h, event("e1", "add_to_cart", 10L));
            h.processBroadcastElement(put(EVENT, 50L, 0L), 0L);
            send(h, event("e2", "page_view", 40L), event("e3", "page_view", 60L));
            watermark(h, 1_000L);
            assertEquals(List.of("ev@1:60", "abs@1:110"), fired(h));
            assertNothingLeft(h);
        }
    }

    @Test
    void anEditedRulesPendingAnchorsNeverFireAndNewAnchorsUseTheNewVersion() throws Exception {
        try (var h = harness(rules(ABSENCE))) {
            send(h, event("e1", "add_to_cart", 10L), event("e2", "add_to_cart", 60L));
            h.processBroadcastElement(put(absence(2), 50L, 0L), 0L);
            watermark(h, 1_000L);
            assertEquals(List.of("abs@2:160"), fired(h));
            assertNothingLeft(h);
        }
    }

    @Test
    void disableThenEnableStartsAfreshAndRemoveEndsTheRule() throws Exception {
        try (var h = harness(rules(ABSENCE, EVENT))) {
            h.processBroadcastElement(op("disable", "abs", 50L, 0L), 0L);
            h.processBroadcastElement(op("enable", "abs", 200L, 1L), 0L);
            h.processBroadcastElement(op("remove", "ev", 300L, 2L), 0L);
            send(h, event("e1", "add_to_cart", 10L), event("e2", "add_to_cart", 100L),
                    event("e3", "add_to_cart", 210L), event("e4", "page_view", 250L),
                    event("e5", "page_view", 300L));
            watermark(h, 1_000L);
            // e1's deadline (110) is after the disable; e2 came while disabled; e3 fires at 310.
            assertEquals(List.of("ev@1:250", "abs@1:310"), fired(h));
            assertNothingLeft(h);
        }
    }

    @Test
    void staleVersionsAndUnknownRulesAreRejectedAndTheSameRuleAgainIsANoOp() throws Exception {
        try (var h = harness(rules(ABSENCE))) {
            h.processBroadcastElement(put(ABSENCE, 50L, 0L), 0L); // the same rule: nothing changes
            h.processBroadcastElement(put(ABSENCE.replace("\"act\"", "\"other\""), 50L, 1L), 0L);
            h.processBroadcastElement(op("disable", "nope", 50L, 2L), 0L);
            h.processBroadcastElement(put(absence(3), 60L, 3L), 0L);
            h.processBroadcastElement(put(absence(2), 70L, 4L), 0L); // below 3
            h.processBroadcastElement(op("remove", "abs", 80L, 5L), 0L);
            h.processBroadcastElement(op("enable", "abs", 90L, 6L), 0L); // removed: unknown
            assertEquals(List.of("stale_rule_version@1", "unknown_rule@2", "stale_rule_version@4",
                    "unknown_rule@6"), rejected(h));
            send(h, event("e1", "add_to_cart", 10L), event("e2", "add_to_cart", 65L),
                    event("e3", "add_to_cart", 85L));
            watermark(h, 1_000L);
            // e1 under v1 would fire at 110, after v3 took over at 60; e2 under v3 at 165 is
            // after the removal at 80; e3 comes after the removal.
            assertTrue(fired(h).isEmpty(), fired(h).toString());
            assertNothingLeft(h);
        }
    }

    @Test
    void theTimelineAndPendingStateSurviveASnapshot() throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = harness(rules(ABSENCE))) {
            send(h, event("e1", "add_to_cart", 10L), event("e2", "add_to_cart", 60L));
            h.processBroadcastElement(put(EVENT, 50L, 0L), 0L);
            h.processBroadcastElement(put(absence(2), 55L, 1L), 0L);
            watermark(h, 20L);
            snapshot = h.snapshot(1L, 1L);
        }
        try (var restored = unopened(rules(ABSENCE))) {
            restored.initializeState(snapshot);
            restored.open();
            send(restored, event("e3", "page_view", 70L));
            // The same version again after the restore is a no-op; a lower one is stale.
            restored.processBroadcastElement(put(absence(2), 55L, 2L), 0L);
            restored.processBroadcastElement(put(absence(1), 55L, 3L), 0L);
            watermark(restored, 1_000L);
            assertEquals(List.of("ev@1:70", "abs@2:160"), fired(restored));
            assertEquals(List.of("stale_rule_version@3"), rejected(restored));
            assertNothingLeft(restored);
        }
    }

    @Test
    void changesArrivingAfterSomeEventsWereEvaluatedApplyFromTheirTime() throws Exception {
        try (var h = harness(rules(ABSENCE))) {
            send(h, event("e1", "add_to_cart", 10L), event("e2", "page_view", 20L));
            watermark(h, 30L);
            h.processBroadcastElement(put(EVENT, 40L, 0L), 0L);
            h.processBroadcastElement(put(absence(2), 40L, 1L), 0L);
            send(h, event("e3", "page_view", 50L), event("e4", "add_to_cart", 60L));
            watermark(h, 1_000L);
            assertEquals(List.of("ev@1:50", "abs@2:160"), fired(h));
            assertNothingLeft(h);
        }
    }
}
