package journeytriggers.engine;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A fired rule: the candidate decision, with the fields it shares with the reference's
 * decisions before scoring, the catalog and the policy (jvm_engine.CANDIDATE_FIELDS).
 */
public final class Candidate {

    final String decisionId;
    final String customerId;
    final String ruleId;
    final int ruleVersion;
    final long triggerTimeMs;
    final String action;
    final List<String> channels;
    /** Payload name to text (null entries allowed); null when the rule has no payload. */
    final Map<String, String> payload;
    final List<String> cart;
    final String kind;
    final String summary;
    final String anchorEventId;
    final String anchorEventType;
    final String anchorTime;
    final String window;
    final List<String> absentEventTypes;
    /** The anchor's event time (epoch ms). */
    final long anchorTsMs;
    /** The anchor event's extras (EngineEvent.extras), or null; not part of the JSON form. */
    final String extras;
    /** The rule's priority; not part of the JSON form. */
    final int priority;
    /**
     * The candidate's event time (epoch ms): its anchor's, or an inactivity session's end
     * (evaluator._event_time); the catalog version in effect then is the decision's. Not part of
     * the JSON form.
     */
    final long eventTsMs;

    Candidate(
            String decisionId, String customerId, String ruleId, int ruleVersion, long triggerTimeMs,
            String action, List<String> channels, Map<String, String> payload, List<String> cart,
            String kind, String summary, String anchorEventId, String anchorEventType,
            String anchorTime, String window, List<String> absentEventTypes) {
        this(decisionId, customerId, ruleId, ruleVersion, triggerTimeMs, action, channels, payload, cart, kind,
                summary, anchorEventId, anchorEventType, anchorTime, window, absentEventTypes,
                0L, null, 0, 0L);
    }

    Candidate(
            String decisionId, String customerId, String ruleId, int ruleVersion, long triggerTimeMs,
            String action, List<String> channels, Map<String, String> payload, List<String> cart,
            String kind, String summary, String anchorEventId, String anchorEventType,
            String anchorTime, String window, List<String> absentEventTypes, long anchorTsMs,
            String extras, int priority, long eventTsMs) {
        this.decisionId = decisionId;
        this.customerId = customerId;
        this.ruleId = ruleId;
        this.ruleVersion = ruleVersion;
        this.triggerTimeMs = triggerTimeMs;
        this.action = action;
        this.channels = channels;
        this.payload = payload;
        this.cart = cart;
        this.kind = kind;
        this.summary = summary;
        this.anchorEventId = anchorEventId;
        this.anchorEventType = anchorEventType;
        this.anchorTime = anchorTime;
        this.window = window;
        this.absentEventTypes = absentEventTypes;
        this.anchorTsMs = anchorTsMs;
        this.extras = extras;
        this.priority = priority;
        this.eventTsMs = eventTsMs;
    }

    /** The candidate of a rule anchored at {@code anchor}, as evaluator._decision builds it. */
    static Candidate of(
            Rule rule, AnchorInfo anchor, long triggerTimeMs, String summary, String window,
            List<String> absentEventTypes) {
        Map<String, String> payload = null;
        if (rule.payloadNames.length > 0) {
            payload = new LinkedHashMap<>();
            for (int i = 0; i < rule.payloadNames.length; i++) {
                payload.put(rule.payloadNames[i], anchor.payload[i]);
            }
            payload = Collections.unmodifiableMap(payload);
        }
        return new Candidate(
                PyText.decisionId(rule.id, rule.version, anchor.customerId, anchor.eventId),
                anchor.customerId, rule.id, rule.version, triggerTimeMs, rule.action, rule.channels,
                payload, anchor.cart == null ? null : Collections.unmodifiableList(Arrays.asList(anchor.cart)),
                rule.kind.name().toLowerCase(java.util.Locale.ROOT), summary, anchor.eventId,
                anchor.eventType, PyText.timestamp(anchor.tsMs), window, absentEventTypes, anchor.tsMs,
                anchor.extras, rule.priority,
                rule.kind == Rule.Kind.INACTIVITY ? anchor.tsMs + rule.inactivity().gapMs() - 1 : anchor.tsMs);
    }

    public String decisionId() {
        return decisionId;
    }

    public String customerId() {
        return customerId;
    }

    public String ruleId() {
        return ruleId;
    }

    public int ruleVersion() {
        return ruleVersion;
    }

    public long triggerTimeMs() {
        return triggerTimeMs;
    }

    public String summary() {
        return summary;
    }

    public String anchorEventId() {
        return anchorEventId;
    }

    public String action() {
        return action;
    }

    public List<String> channels() {
        return channels;
    }

    /** Payload name to text, or null. */
    public Map<String, String> payload() {
        return payload;
    }

    /** The anchor's cart product ids, or null. */
    public List<String> cart() {
        return cart;
    }

    /** The trigger kind, as the explanation names it. */
    public String kind() {
        return kind;
    }

    public String anchorEventType() {
        return anchorEventType;
    }

    public String anchorTime() {
        return anchorTime;
    }

    /** The explanation's window, or null. */
    public String window() {
        return window;
    }

    /** The absence's event types, or null. */
    public List<String> absentEventTypes() {
        return absentEventTypes;
    }

    public long anchorTsMs() {
        return anchorTsMs;
    }

    /** The anchor event's extras, or null. */
    public String extras() {
        return extras;
    }

    public int priority() {
        return priority;
    }

    public long eventTsMs() {
        return eventTsMs;
    }

    /** The same candidate with what its wire form adds to the JSON form. */
    Candidate withAnchor(long tsMs, String anchorExtras, int rulePriority, long eventTime) {
        return new Candidate(decisionId, customerId, ruleId, ruleVersion, triggerTimeMs, action, channels, payload,
                cart, kind, summary, anchorEventId, anchorEventType, anchorTime, window, absentEventTypes, tsMs,
                anchorExtras, rulePriority, eventTime);
    }

    /** The candidate as the JSON object the reference writes (keys sorted). */
    public ObjectNode toJsonNode() {
        ObjectNode node = Json.MAPPER.createObjectNode();
        node.put("action", action);
        node.set("cart", texts(cart));
        node.set("channels", texts(channels));
        node.put("customer_id", customerId);
        node.put("decision_id", decisionId);
        ObjectNode explanation = node.putObject("explanation");
        explanation.set("absent_event_types", texts(absentEventTypes));
        explanation.put("anchor_event_id", anchorEventId);
        explanation.put("anchor_event_type", anchorEventType);
        explanation.put("anchor_time", anchorTime);
        explanation.put("kind", kind);
        explanation.put("summary", summary);
        explanation.put("window", window);
        if (payload == null) {
            node.putNull("payload");
        } else {
            ObjectNode values = node.putObject("payload");
            payload.forEach(values::put);
        }
        node.put("rule_id", ruleId);
        node.put("rule_version", ruleVersion);
        node.put("trigger_time_ms", triggerTimeMs);
        return node;
    }

    /** One JSON line (no line break). */
    public String toJson() {
        try {
            return Json.MAPPER.writeValueAsString(toJsonNode());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a candidate written by {@link #toJson} (its anchor time 0, no extras: see withAnchor). */
    public static Candidate fromJson(String json) {
        JsonNode node = Json.parse(json);
        JsonNode explanation = node.get("explanation");
        Map<String, String> payload = null;
        if (node.get("payload").isObject()) {
            payload = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> entry : node.get("payload").properties()) {
                payload.put(entry.getKey(), entry.getValue().isNull() ? null : entry.getValue().textValue());
            }
            payload = Collections.unmodifiableMap(payload);
        }
        return new Candidate(
                node.get("decision_id").textValue(), node.get("customer_id").textValue(),
                node.get("rule_id").textValue(), node.get("rule_version").intValue(),
                node.get("trigger_time_ms").longValue(), node.get("action").textValue(),
                list(node.get("channels")), payload, list(node.get("cart")),
                explanation.get("kind").textValue(), explanation.get("summary").textValue(),
                explanation.get("anchor_event_id").textValue(),
                explanation.get("anchor_event_type").textValue(),
                explanation.get("anchor_time").textValue(),
                explanation.get("window").isNull() ? null : explanation.get("window").textValue(),
                list(explanation.get("absent_event_types")));
    }

    private static List<String> list(JsonNode array) {
        if (array == null || array.isNull()) {
            return null;
        }
        String[] texts = new String[array.size()];
        for (int i = 0; i < texts.length; i++) {
            texts[i] = array.get(i).isNull() ? null : array.get(i).textValue();
        }
        return Collections.unmodifiableList(Arrays.asList(texts));
    }

    private static JsonNode texts(List<String> texts) {
        if (texts == null) {
            return Json.MAPPER.nullNode();
        }
        ArrayNode array = Json.MAPPER.createArrayNode();
        texts.forEach(array::add);
        return array;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Candidate)) {
            return false;
        }
        Candidate that = (Candidate) other;
        return toJson().equals(that.toJson()) && anchorTsMs == that.anchorTsMs
                && Objects.equals(extras, that.extras);
    }

    @Override
    public int hashCode() {
        return Objects.hash(decisionId, ruleId, triggerTimeMs);
    }

    @Override
    public String toString() {
        return toJson();
    }
}
