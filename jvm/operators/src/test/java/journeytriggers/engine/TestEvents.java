package journeytriggers.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/** Events and rule IR for the engine's tests. */
final class TestEvents {

    private TestEvents() {}

    /** An event of customer {@code c1} with a record of the given top-level and properties fields. */
    static EngineEvent event(String id, String type, long ts, Map<String, Object> properties) {
        return event("c1", id, type, ts, properties, Map.of());
    }

    static EngineEvent event(String id, String type, long ts) {
        return event(id, type, ts, Map.of());
    }

    static EngineEvent event(
            String customer, String id, String type, long ts, Map<String, Object> properties,
            Map<String, Object> top) {
        ObjectNode record = Json.MAPPER.createObjectNode();
        record.put("event_id", id);
        record.put("event_type", type);
        record.put("customer_id", customer);
        record.put("ts", ts);
        top.forEach((name, value) -> record.set(name, Json.MAPPER.valueToTree(value)));
        record.set("properties", Json.MAPPER.valueToTree(properties));
        return new EngineEvent(customer, customer, ts, id, type, record.toString(), null, null, null, null);
    }

    /** A rule set IR with one rule of the given trigger and conditions (JSON texts). */
    static String rules(String... rules) {
        return "{\"ir_version\":1,\"rules\":[" + String.join(",", rules) + "]}";
    }

    static String rule(String id, String trigger, String conditions, String reads) {
        return "{\"ir_version\":1,\"id\":\"" + id + "\",\"version\":1,\"description\":\"d\",\"enabled\":true,"
                + "\"priority\":50,\"reads\":" + reads + ",\"trigger\":" + trigger + ",\"conditions\":"
                + conditions + ",\"output\":{\"action\":\"act\",\"channels\":[\"email\"],"
                + "\"payload\":{\"p\":\"properties.product_id\"}},"
                + "\"needs\":{\"profile\":false,\"score\":false,\"session\":false}}";
    }

    static String pattern(String types) {
        return "{\"types\":" + types + ",\"where\":null}";
    }

    static List<String> summaries(List<Candidate> candidates) {
        List<String> texts = new ArrayList<>();
        for (Candidate candidate : candidates) {
            texts.add(candidate.summary());
        }
        return texts;
    }
}
