package journeytriggers.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Instant;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/** The ingest's SQL functions: the classification row, the event time, and their shared parse. */
class IngestFunctionsTest {

    private static final ParseEventFunction PARSE = new ParseEventFunction();
    private static final EventTimeFunction TIME = new EventTimeFunction();

    private static Row parse(String line, Instant recordTime, int maxChars, long aheadMs) {
        return PARSE.eval(line, recordTime, maxChars, aheadMs, 0L, false);
    }

    @Test
    void aValidRecordGivesItsFieldsAndTime() {
        String line = "{\"event_id\":\"e1\",\"event_type\":\"login\",\"customer_id\":\"c1\","
                + "\"anonymous_id\":\"a1\",\"device_id\":\"d1\",\"ts\":1000}";
        assertEquals(Row.of(null, "e1", "login", "c1", "anon:a1"), parse(line, null, 1_000, 0));
        assertEquals(1000L, TIME.eval(line, null, 1_000, 0L, 0L, false));
    }

    @Test
    void theIdentityTokenFallsBackToTheDevice() {
        String line = "{\"event_id\":\"e1\",\"event_type\":\"login\",\"device_id\":\"d1\",\"ts\":5}";
        assertEquals(Row.of(null, "e1", "login", null, "device:d1"), parse(line, null, 1_000, 0));
    }

    @Test
    void aDeadLetterHasOnlyItsReasonAndEventTimeZero() {
        String line = "{\"event_id\":\"e1\",\"event_type\":\"login\",\"customer_id\":\"c1\",\"ts\":\"soon\"}";
        assertEquals(Row.of("invalid_ts", null, null, null, null), parse(line, null, 1_000, 0));
        assertEquals(0L, TIME.eval(line, null, 1_000, 0L, 0L, false));
    }

    @Test
    void theSharedParseNeverAnswersForAnotherRecordOrSetting() {
        String first = "{\"event_id\":\"e1\",\"event_type\":\"login\",\"customer_id\":\"c1\",\"ts\":7000}";
        String second = "{\"event_id\":\"e2\",\"event_type\":\"login\",\"customer_id\":\"c2\",\"ts\":9000}";
        // Alternating records: each answer is its own record's.
        for (int round = 0; round < 3; round++) {
            assertEquals(7000L, TIME.eval(first, null, 1_000, 0L, 0L, false));
            assertEquals("e1", parse(first, null, 1_000, 0).getField(1));
            assertEquals(9000L, TIME.eval(second, null, 1_000, 0L, 0L, false));
            assertEquals("e2", parse(second, null, 1_000, 0).getField(1));
        }
        // The same text under other settings or another record time is parsed again.
        assertEquals("oversized_record", parse(first, null, 10, 0).getField(0));
        assertNull(parse(first, null, 1_000, 0).getField(0));
        Instant recordTime = Instant.ofEpochMilli(1_000);
        assertEquals("ts_ahead_of_record_time", parse(first, recordTime, 1_000, 5_000).getField(0));
        assertNull(parse(first, Instant.ofEpochMilli(3_000), 1_000, 5_000).getField(0));
    }

    @Test
    void anUnknownTypeIsADeadLetterUnlessAccepted() {
        String line = "{\"event_id\":\"e1\",\"event_type\":\"wishlist_add\",\"customer_id\":\"c1\",\"ts\":1}";
        assertEquals("unknown_event_type", parse(line, null, 1_000, 0).getField(0));
        assertEquals(Row.of(null, "e1", "wishlist_add", "c1", null),
                PARSE.eval(line, null, 1_000, 0L, 0L, true));
    }
}
