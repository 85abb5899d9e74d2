package journeytriggers.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** Condition semantics of journey_triggers/semantics/conditions.py. */
class ConditionsTest {

    private static final String RECORD =
            "{\"event_id\":\"e1\",\"event_type\":\"page_view\",\"device_type\":\"mobile\","
                    + "\"time_zone\":\"Europe/Berlin\",\"properties\":{\"price\":129.99,\"qty\":2,"
                    + "\"text_number\":\"12.5\",\"text_newline\":\"12\\n\",\"flag\":true,\"nothing\":null,"
                    + "\"page\":\"/services/audit\",\"tags\":[\"a\",1,2.5,true,null],\"nested\":{\"x\":1},"
                    + "\"lat\":52.52,\"lon\":13.405,\"zero\":-0.0,\"big\":1e16}}";

    private static EngineEvent event(String record, long ts) {
        return new EngineEvent("k", "c", ts, "e1", "page_view", record, 1_000L, null, null, null);
    }

    private static boolean test(String condition) {
        return test(condition, event(RECORD, 1_798_761_600_000L));
    }

    private static boolean test(String condition, EngineEvent event) {
        return Cond.parse(Json.parse(condition), "test").test(event);
    }

    private static String field(String field, String test, String value) {
        return "{\"op\":\"field\",\"field\":\"" + field + "\",\"test\":\"" + test + "\",\"value\":" + value + "}";
    }

    @Test
    void numbersCompareNumericallyWithNumbersAndNumericStrings() {
        assertTrue(test(field("properties.qty", "=", "2")));
        assertTrue(test(field("properties.qty", "=", "2.0")));
        assertTrue(test(field("properties.text_number", "=", "12.5")));
        assertTrue(test(field("properties.text_newline", "=", "12"))); // Python's $ before \n
        assertTrue(test(field("properties.price", ">", "100")));
        assertTrue(test(field("properties.price", "<=", "129.99")));
        assertFalse(test(field("properties.price", "<", "129.99")));
        assertFalse(test(field("properties.flag", "=", "1"))); // a boolean is not a number
        assertFalse(test(field("properties.page", ">", "1")));
    }

    @Test
    void stringsMatchOnlyStringsWithTheSameText() {
        assertTrue(test(field("device_type", "=", "\"mobile\"")));
        assertFalse(test(field("properties.qty", "=", "\"2\"")));
        assertTrue(test(field("device_type", "!=", "\"desktop\"")));
        assertTrue(test(field("properties.flag", "=", "true")));
        assertFalse(test(field("properties.flag", "=", "false")));
    }

    @Test
    void inAndNotIn() {
        assertTrue(test(field("device_type", "in", "[\"tablet\",\"mobile\"]")));
        assertTrue(test(field("properties.qty", "in", "[1,2]")));
        assertFalse(test(field("device_type", "not in", "[\"tablet\",\"mobile\"]")));
        assertTrue(test(field("device_type", "not in", "[\"tablet\"]")));
    }

    @Test
    void missingFieldsMakeEveryComparisonFalse() {
        for (String test : new String[] {"=", "!=", "<", ">="}) {
            assertFalse(test(field("properties.missing", test, "1")), test);
            assertFalse(test(field("properties.nothing", test, "1")), test);
            assertFalse(test(field("properties.nested", test, "1")), test);
            assertFalse(test(field("properties.tags", test, "1")), test);
        }
        assertFalse(test(field("properties.missing", "not in", "[1]")));
        assertFalse(test(field("properties.price.deeper", "=", "1")));
        assertTrue(test("{\"op\":\"not\",\"of\":" + field("properties.missing", "exists", "null") + "}"));
    }

    @Test
    void existsNeedsAScalar() {
        assertTrue(test(field("properties.price", "exists", "null")));
        assertTrue(test(field("properties.flag", "exists", "null")));
        assertFalse(test(field("properties.nothing", "exists", "null")));
        assertFalse(test(field("properties.nested", "exists", "null")));
    }

    @Test
    void matchesIsAFullMatchOnStrings() {
        assertTrue(test(field("properties.page", "matches", "\"/services/.*\"")));
        assertFalse(test(field("properties.page", "matches", "\"/services\"")));
        assertFalse(test(field("properties.page", "matches", "\"audit\"")));
        assertFalse(test(field("properties.qty", "matches", "\"2\""))); // not a string
    }

    @Test
    void containsLooksAtListElementsAsText() {
        assertTrue(test(field("properties.tags", "contains", "\"a\"")));
        assertTrue(test(field("properties.tags", "contains", "\"1\"")));
        assertTrue(test(field("properties.tags", "contains", "\"2.5\"")));
        assertTrue(test(field("properties.tags", "contains", "\"true\"")));
        assertFalse(test(field("properties.tags", "contains", "\"b\"")));
        assertFalse(test(field("properties.page", "contains", "\"s\"")));
    }

    @Test
    void allAnyNot() {
        String yes = field("device_type", "=", "\"mobile\"");
        String no = field("device_type", "=", "\"desktop\"");
        assertTrue(test("{\"op\":\"all\",\"of\":[" + yes + "," + yes + "]}"));
        assertFalse(test("{\"op\":\"all\",\"of\":[" + yes + "," + no + "]}"));
        assertTrue(test("{\"op\":\"any\",\"of\":[" + no + "," + yes + "]}"));
        assertTrue(test("{\"op\":\"not\",\"of\":{\"op\":\"any\",\"of\":[" + no + "]}}"));
    }

    @Test
    void profileFieldsReadTheProfile() {
        String profile = "{\"orders\":3,\"cart_products\":[\"p1\"]}";
        EngineEvent withProfile = new EngineEvent("k", "c", 5L, "e", "t", RECORD, null, profile, null, null);
        assertTrue(test(field("profile.orders", ">=", "3"), withProfile));
        assertTrue(test(field("profile.cart_products", "contains", "\"p1\""), withProfile));
        assertFalse(test(field("profile.orders", ">=", "3"), event(RECORD, 5L)));
    }

    @Test
    void localTimeIsTheEventsMinuteInItsZone() {
        // 2027-01-01T00:00Z is 01:00 on a Friday in Berlin.
        String window = "{\"op\":\"local_time\",\"start_minute\":60,\"end_minute\":61,\"days\":[\"fri\"]}";
        assertTrue(test(window, event(RECORD, 1_798_761_600_000L)));
        assertFalse(test(window, event(RECORD, 1_798_761_600_000L + 60_000L)));
        String wrapping = "{\"op\":\"local_time\",\"start_minute\":1380,\"end_minute\":90,\"days\":null}";
        assertTrue(test(wrapping, event(RECORD, 1_798_761_600_000L)));
        String est = RECORD.replace("Europe/Berlin", "EST");
        assertFalse(test(wrapping, event(est, 1_798_761_600_000L)));
    }

    @Test
    void storeDistanceScoreAndDwell() {
        String near = "{\"op\":\"store_distance\",\"max_km\":1.0,\"stores\":[{\"store_id\":\"b\",\"lat\":52.52,\"lon\":13.41,\"kx\":67.66047828029178}]}";
        assertTrue(test(near));
        String far = near.replace("13.41", "13.6");
        assertFalse(test(far));
        assertTrue(test("{\"op\":\"session_dwell\",\"more_than_ms\":500}", event(RECORD, 1_501L)));
        assertFalse(test("{\"op\":\"session_dwell\",\"more_than_ms\":500}", event(RECORD, 1_500L)));
        assertFalse(test("{\"op\":\"score\",\"model\":\"propensity\",\"gte\":0.5}"));
        EngineEvent scored = new EngineEvent("k", "c", 5L, "e", "t", RECORD, null, null, 0.5, null);
        assertTrue(test("{\"op\":\"score\",\"model\":\"propensity\",\"gte\":0.5}", scored));
    }

    @Test
    void payloadTextsAreThoseOfPython() {
        JsonNode record = Json.parse(RECORD);
        assertEquals("129.99", PyText.payloadText(record.at("/properties/price")));
        assertEquals("1e+16", PyText.payloadText(record.at("/properties/big")));
        assertEquals("-0.0", PyText.payloadText(record.at("/properties/zero")));
        assertEquals("true", PyText.payloadText(record.at("/properties/flag")));
        assertEquals("2", PyText.payloadText(record.at("/properties/qty")));
        assertEquals("5.0", PyText.floatRepr(5.0));
        assertEquals("0.30000000000000004", PyText.floatRepr(0.1 + 0.2));
        assertEquals("1e-05", PyText.floatRepr(1e-5));
        assertEquals("0.0001", PyText.floatRepr(1e-4));
        assertEquals("1000000000000000.0", PyText.floatRepr(1e15));
        assertEquals("1.2345678901234567e+19", PyText.floatRepr(12345678901234567890.0));
        assertEquals("2.82879384806159e+17", PyText.floatRepr(2.82879384806159E17));
    }

    @Test
    void timestampsDurationsAndDecisionIds() {
        assertEquals("2027-01-01T00:00:00.007Z", PyText.timestamp(1_798_761_600_007L));
        assertEquals("15m", PyText.duration(900_000L));
        assertEquals("1500ms", PyText.duration(1_500L));
        assertEquals("3d", PyText.duration(259_200_000L));
        // From the reference (decisions.decision_id).
        assertEquals(
                "0011a323e7517797289840712425485a",
                PyText.decisionId("viewed_not_bought", 1, "anon:anon-1cddaf4600fa", "cust-000203-00002"));
    }

    @Test
    void stringOrderIsByCodePoint() {
        assertTrue(PyText.compare("\uFF5E", "\uD83D\uDE00") < 0); // U+FF5E < U+1F600
        assertTrue("\uFF5E".compareTo("\uD83D\uDE00") > 0); // UTF-16 order says otherwise
        assertTrue(PyText.compare("a", "ab") < 0);
    }

    @Test
    void anUnknownIrVersionIsRefused() {
        IllegalArgumentException error =
                assertThrows(IllegalArgumentException.class, () -> RuleSet.parse("{\"ir_version\":2,\"rules\":[]}"));
        assertTrue(error.getMessage().contains("ir_version 2"), error.getMessage());
    }
}
