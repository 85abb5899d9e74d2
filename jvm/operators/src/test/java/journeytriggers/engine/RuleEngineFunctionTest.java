package journeytriggers.engine;

import static journeytriggers.engine.TestEvents.event;
import static journeytriggers.engine.TestEvents.pattern;
import static journeytriggers.engine.TestEvents.rule;
import static journeytriggers.engine.TestEvents.rules;
import static journeytriggers.engine.TestEvents.summaries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * The engine in Flink's keyed operator test harness, per trigger kind: outputs, and keyed state
 * entries and event-time timers falling to zero once nothing is pending.
 */
class RuleEngineFunctionTest {

    private static final String EVENT = rule("ev", "{\"kind\":\"event\",\"on\":" + pattern("[\"page_view\"]") + "}",
            "null", "[\"page_view\"]");
    private static final String ABSENCE = rule("abs",
            "{\"kind\":\"absence\",\"anchor\":" + pattern("[\"add_to_cart\"]") + ",\"absent\":"
                    + pattern("[\"purchase\"]") + ",\"within_ms\":100,\"within_text\":\"100ms\","
                    + "\"correlate_on\":[],\"latest_only\":true}",
            "null", "[\"add_to_cart\",\"purchase\"]");
    private static final String INACTIVITY = rule("inact",
            "{\"kind\":\"inactivity\",\"gap_ms\":100,\"gap_text\":\"100ms\",\"delay_ms\":50,\"while\":"
                    + pattern("[\"add_to_cart\"]") + "}",
            "null", "null");
    private static final String COUNT = rule("cnt",
            "{\"kind\":\"count\",\"on\":" + pattern("[\"page_view\"]") + ",\"at_least\":2,\"within_ms\":100,"
                    + "\"within_text\":\"100ms\",\"group_by\":[]}",
            "null", "[\"page_view\"]");
    private static final String SEQUENCE = rule("seq",
            "{\"kind\":\"sequence\",\"steps\":[{\"on\":" + pattern("[\"product_view\"]")
                    + ",\"at_least\":1,\"min_gap_ms\":null},{\"on\":" + pattern("[\"add_to_cart\"]")
                    + ",\"at_least\":1,\"min_gap_ms\":null}],\"within_ms\":100,\"within_text\":\"100ms\",\"same\":[]}",
            "null", "[\"add_to_cart\",\"product_view\"]");
    private static final String RECENCY = rule("rec",
            "{\"kind\":\"recency\",\"on\":" + pattern("[\"login\"]") + ",\"since_types\":[\"purchase\"],"
                    + "\"more_than_ms\":null,\"less_than_ms\":100,\"bound_text\":\"100ms\"}",
            "null", "[\"login\",\"purchase\"]");
    private static final String TREND = rule("trend",
            "{\"kind\":\"trend\",\"on\":" + pattern("[\"purchase\"]") + ",\"window_ms\":100,\"min_recent\":2}",
            "null", "[\"purchase\"]");

    private static KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness(String rules)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new KeyedProcessOperator<>(new RuleEngineFunction(rules)),
                        EngineEvent::customerKey,
                        Types.STRING);
        harness.setup(EngineTypes.CandidateSerializer.INSTANCE);
        harness.open();
        return harness;
    }

    private static void send(KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness,
            EngineEvent... events) throws Exception {
        for (EngineEvent event : events) {
            harness.processElement(event, event.tsMs());
        }
    }

    private static void assertNothingLeft(KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate> harness) {
        assertEquals(0, harness.numKeyedStateEntries(), "keyed state entries");
        assertEquals(0, harness.numEventTimeTimers(), "event-time timers");
    }

    @Test
    void eventFiresOnceTheWatermarkPassesTheEvent() throws Exception {
        try (var harness = harness(rules(EVENT))) {
            send(harness, event("e1", "page_view", 1_000L, Map.of("product_id", "p1")));
            assertEquals(1, harness.numEventTimeTimers());
            harness.processWatermark(999L);
            assertTrue(harness.extractOutputValues().isEmpty());

            harness.processWatermark(1_000L);

            List<Candidate> out = harness.extractOutputValues();
            assertEquals(List.of("page_view e1 at 1970-01-01T00:00:01.000Z matched"), summaries(out));
            assertEquals(Map.of("p", "p1"), out.get(0).payload);
            assertNothingLeft(harness);
        }
    }

    @Test
    void absenceFiresAtTheDeadlineAndLeavesNothing() throws Exception {
        try (var harness = harness(rules(ABSENCE))) {
            send(harness, event("e1", "add_to_cart", 1_000L));
            harness.processWatermark(1_000L);
            assertEquals(2, harness.numKeyedStateEntries()); // the rule's state and the agenda
            assertEquals(1, harness.numEventTimeTimers()); // the deadline
            harness.processWatermark(1_099L);
            assertTrue(harness.extractOutputValues().isEmpty());

            harness.processWatermark(1_100L);

            List<Candidate> out = harness.extractOutputValues();
            assertEquals(1, out.size());
            assertEquals(1_100L, out.get(0).triggerTimeMs());
            assertEquals(
                    "add_to_cart e1 at 1970-01-01T00:00:01.000Z had no purchase within 100ms", out.get(0).summary());
            assertEquals(1_100L, ((StreamRecord<?>) harness.getOutput().stream()
                    .filter(o -> o instanceof StreamRecord).findFirst().orElseThrow()).getTimestamp());
            assertNothingLeft(harness);
        }
    }

    @Test
    void anAbsentEventAtTheDeadlineOrInTheSameMillisecondCancels() throws Exception {
        try (var harness = harness(rules(ABSENCE))) {
            send(harness, event("e1", "add_to_cart", 1_000L), event("e2", "purchase", 1_100L));
            // The purchase's id sorts first: still in the anchor's millisecond, so it cancels.
            send(harness, event("b", "add_to_cart", 5_000L), event("a", "purchase", 5_000L));
            harness.processWatermark(10_000L);
            assertTrue(harness.extractOutputValues().isEmpty());
            assertNothingLeft(harness);
        }
    }

    @Test
    void aLaterAnchorWithinTheWindowSupersedesAndItsTimerGoes() throws Exception {
        try (var harness = harness(rules(ABSENCE))) {
            send(harness, event("e1", "add_to_cart", 1_000L));
            harness.processWatermark(1_000L);
            send(harness, event("e2", "add_to_cart", 1_050L));
            harness.processWatermark(1_050L);
            assertEquals(1, harness.numEventTimeTimers()); // 1_150 only: 1_100 was deleted

            harness.processWatermark(2_000L);

            List<Candidate> out = harness.extractOutputValues();
            assertEquals(1, out.size());
            assertEquals("e2", out.get(0).anchorEventId());
            assertEquals(1_150L, out.get(0).triggerTimeMs());
            assertNothingLeft(harness);
        }
    }

    @Test
    void inactivityFiresAfterGapAndDelayAnchoredAtTheLastEvent() throws Exception {
        try (var harness = harness(rules(INACTIVITY))) {
            // A gap of exactly 100 ms keeps the session open.
            send(harness, event("e1", "add_to_cart", 1_000L), event("e2", "page_view", 1_100L));
            harness.processWatermark(1_100L);
            assertEquals(2, harness.numKeyedStateEntries());
            assertEquals(1, harness.numEventTimeTimers());
            harness.processWatermark(1_249L);
            assertTrue(harness.extractOutputValues().isEmpty());

            harness.processWatermark(1_250L);

            List<Candidate> out = harness.extractOutputValues();
            assertEquals(List.of("no activity for 100ms after page_view e2 at 1970-01-01T00:00:01.100Z; "
                    + "the session had add_to_cart"), summaries(out));
            assertEquals(1_250L, out.get(0).triggerTimeMs());
            assertNothingLeft(harness);
        }
    }

    @Test
    void aSessionThatCannotFireIsDroppedWhenItEnds() throws Exception {
        try (var harness = harness(rules(INACTIVITY))) {
            send(harness, event("e1", "page_view", 1_000L));
            harness.processWatermark(1_000L);
            assertEquals(2, harness.numKeyedStateEntries());
            harness.processWatermark(1_100L);
            assertTrue(harness.extractOutputValues().isEmpty());
            assertNothingLeft(harness);
        }
    }

    @Test
    void countFiresOnceAtTheCrossingAndForgetsAfterTheWindow() throws Exception {
        try (var harness = harness(rules(COUNT))) {
            send(harness,
                    event("e1", "page_view", 1_000L),
                    event("e2", "page_view", 1_050L),
                    event("e3", "page_view", 1_080L));
            harness.processWatermark(1_080L);

            assertEquals(List.of("page_view e2 at 1970-01-01T00:00:01.050Z made 2 page_view within 100ms "
                    + "(at least 2)"), summaries(harness.extractOutputValues()));
            assertEquals(2, harness.numKeyedStateEntries());
            assertEquals(1, harness.numEventTimeTimers());
            harness.processWatermark(1_179L);
            assertEquals(2, harness.numKeyedStateEntries());
            harness.processWatermark(1_180L); // the window has slid past the last event
            assertNothingLeft(harness);
        }
    }

    @Test
    void sequenceCompletesAndAnUnfinishedMatchExpires() throws Exception {
        try (var harness = harness(rules(SEQUENCE))) {
            send(harness, event("e1", "product_view", 1_000L), event("e2", "add_to_cart", 1_050L));
            harness.processWatermark(1_050L);
            assertEquals(List.of("add_to_cart e2 at 1970-01-01T00:00:01.050Z completed 2 steps started by "
                    + "product_view e1 at 1970-01-01T00:00:01.000Z within 100ms"),
                    summaries(harness.extractOutputValues()));
            assertNothingLeft(harness);

            send(harness, event("e3", "product_view", 2_000L), event("e4", "add_to_cart", 2_100L));
            harness.processWatermark(2_000L);
            assertEquals(3, harness.numKeyedStateEntries()); // rule state, agenda, buffered e4
            assertEquals(2, harness.numEventTimeTimers()); // 2_099 (expiry) and 2_100 (e4)
            harness.processWatermark(2_100L); // exactly `within` later is too late
            assertEquals(1, harness.extractOutputValues().size());
            assertNothingLeft(harness);
        }
    }

    @Test
    void recencyLessThanKeepsTheLastTimeOnlyWhileItMatters() throws Exception {
        try (var harness = harness(rules(RECENCY))) {
            send(harness, event("e1", "purchase", 1_000L), event("e2", "login", 1_100L));
            harness.processWatermark(1_100L);
            assertEquals(List.of("login e2 at 1970-01-01T00:00:01.100Z: last purchase at "
                    + "1970-01-01T00:00:01.000Z (at most 100ms before)"), summaries(harness.extractOutputValues()));
            assertNothingLeft(harness);
        }
    }

    @Test
    void trendCountsTheWholeMillisecond() throws Exception {
        try (var harness = harness(rules(TREND))) {
            send(harness,
                    event("e1", "purchase", 1_000L),
                    event("e2", "purchase", 1_060L),
                    event("e4", "purchase", 1_070L),
                    event("e3", "purchase", 1_070L));
            harness.processWatermark(1_070L);
            assertEquals(List.of(
                    "purchase e3 at 1970-01-01T00:00:01.070Z: 3 purchase in the last 50ms vs 1 in the 50ms before "
                            + "(at least 2)",
                    "purchase e4 at 1970-01-01T00:00:01.070Z: 3 purchase in the last 50ms vs 1 in the 50ms before "
                            + "(at least 2)"),
                    summaries(harness.extractOutputValues()));
            harness.processWatermark(1_170L);
            assertNothingLeft(harness);
        }
    }

    private static List<EngineEvent> mixedEvents() {
        List<EngineEvent> events = new ArrayList<>();
        String[] types = {"page_view", "product_view", "add_to_cart", "purchase", "login"};
        for (int i = 0; i < 60; i++) {
            String customer = i % 3 == 0 ? "c2" : "c1";
            long ts = 1_000L + (i * 37L) % 400L;
            events.add(event(customer, "e" + (i % 7) + "-" + i, types[(i * 7) % types.length], ts,
                    Map.of("product_id", "p" + (i % 2)), Map.of()));
        }
        return events;
    }

    private static List<String> run(List<EngineEvent> events, boolean watermarkPerEvent) throws Exception {
        try (var harness = harness(rules(EVENT, ABSENCE, INACTIVITY, COUNT, SEQUENCE, RECENCY, TREND))) {
            long max = Long.MIN_VALUE;
            for (EngineEvent event : events) {
                harness.processElement(event, event.tsMs());
                max = Math.max(max, event.tsMs());
                if (watermarkPerEvent) {
                    harness.processWatermark(max - 1);
                }
            }
            harness.processWatermark(Long.MAX_VALUE);
            assertNothingLeft(harness);
            List<String> out = new ArrayList<>();
            for (Candidate candidate : harness.extractOutputValues()) {
                out.add(candidate.toJson());
            }
            Collections.sort(out);
            return out;
        }
    }

    @Test
    void outOfOrderArrivalGivesTheSameCandidatesAsSortedArrival() throws Exception {
        List<EngineEvent> sorted = new ArrayList<>(mixedEvents());
        sorted.sort(EngineEvent.ORDER);
        List<EngineEvent> reversed = new ArrayList<>(sorted);
        Collections.reverse(reversed);
        List<EngineEvent> shuffled = new ArrayList<>(sorted);
        Collections.shuffle(shuffled, new java.util.Random(7));

        List<String> expected = run(sorted, true);
        assertTrue(expected.size() > 10, "the mix fires every kind: " + expected.size());
        TreeSet<String> kinds = new TreeSet<>();
        for (String candidate : expected) {
            kinds.add(Candidate.fromJson(candidate).kind);
        }
        assertEquals(new TreeSet<>(List.of("event", "absence", "inactivity", "count", "sequence", "recency", "trend")),
                kinds);
        assertEquals(expected, run(reversed, false));
        assertEquals(expected, run(shuffled, false));
    }

    @Test
    void aPendingAbsenceSurvivesASnapshotAndFiresOnce() throws Exception {
        OperatorSubtaskState snapshot;
        try (var harness = harness(rules(ABSENCE))) {
            send(harness, event("e1", "add_to_cart", 1_000L), event("e2", "page_view", 1_020L));
            harness.processWatermark(1_000L);
            snapshot = harness.snapshot(1L, 1L);
            assertTrue(harness.extractOutputValues().isEmpty());
        }
        try (var restored = new KeyedOneInputStreamOperatorTestHarness<String, EngineEvent, Candidate>(
                new KeyedProcessOperator<>(new RuleEngineFunction(rules(ABSENCE))),
                EngineEvent::customerKey, Types.STRING)) {
            restored.setup(EngineTypes.CandidateSerializer.INSTANCE);
            restored.initializeState(snapshot);
            restored.open();
            assertEquals(3, restored.numKeyedStateEntries()); // rule state, agenda, buffered page_view
            assertEquals(2, restored.numEventTimeTimers()); // 1_020 (buffered) and 1_100 (deadline)

            restored.processWatermark(1_100L);
            restored.processWatermark(5_000L);

            List<Candidate> out = restored.extractOutputValues();
            assertEquals(1, out.size());
            assertEquals("e1", out.get(0).anchorEventId());
            assertNothingLeft(restored);
        }
    }

    @Test
    void lateEventsGoToTheSideOutput() throws Exception {
        try (var harness = harness(rules(EVENT))) {
            harness.processWatermark(2_000L);
            send(harness, event("e1", "page_view", 2_000L));
            assertTrue(harness.extractOutputValues().isEmpty());
            assertEquals(1, harness.getSideOutput(RuleEngineFunction.LATE_EVENTS).size());
            assertNothingLeft(harness);
        }
    }
}
