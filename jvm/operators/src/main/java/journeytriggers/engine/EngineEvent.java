package journeytriggers.engine;

import java.util.Comparator;
import java.util.Objects;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * One prepared event, as the engine reads it: the customer it is keyed by, its time, id and
 * type, the record's text (parsed once, on first use, for field reads), and what upstream
 * stages computed: the session's start, the profile as of the event, and the model's score.
 */
public final class EngineEvent {

    /** The order events are evaluated in: (ts, event_id, raw), strings by code point. */
    public static final Comparator<EngineEvent> ORDER =
            (a, b) -> {
                int byTime = Long.compare(a.tsMs, b.tsMs);
                if (byTime != 0) {
                    return byTime;
                }
                int byId = PyText.compare(a.eventId, b.eventId);
                return byId != 0 ? byId : PyText.compare(a.raw, b.raw);
            };

    private final String customerKey;
    private final String customerId;
    private final long tsMs;
    private final String eventId;
    private final String eventType;
    private final String raw;
    private final Long sessionStartMs;
    /** The profile's JSON text, parsed on first use (most events' profiles are never read). */
    private final String profileText;
    private transient JsonNode profile;
    private final Double score;
    /** Columns the job's later stages read of an anchor, as one text the engine only carries. */
    private final String extras;
    private transient JsonNode record;

    /**
     * An event whose profile is JSON text (or null), parsed when a condition first reads it, and
     * whose {@code extras} (or null) are a text that candidates anchored at it carry.
     */
    public EngineEvent(
            String customerKey,
            String customerId,
            long tsMs,
            String eventId,
            String eventType,
            String raw,
            Long sessionStartMs,
            String profileText,
            Double score,
            String extras) {
        this.customerKey = Objects.requireNonNull(customerKey, "customer_key");
        this.customerId = Objects.requireNonNull(customerId, "customer_id");
        this.tsMs = tsMs;
        this.eventId = Objects.requireNonNull(eventId, "event_id");
        this.eventType = Objects.requireNonNull(eventType, "event_type");
        this.raw = Objects.requireNonNull(raw, "raw");
        this.sessionStartMs = sessionStartMs;
        this.profileText = profileText;
        this.score = score;
        this.extras = extras;
    }

    /** Reads an engine input line (see journey_triggers/jvm_engine.py). */
    public static EngineEvent fromJson(JsonNode line) {
        if (line == null || !line.isObject()) {
            throw new IllegalArgumentException("an event line is a JSON object");
        }
        EngineEvent event =
                new EngineEvent(
                        text(line, "customer_key"),
                        text(line, "customer_id"),
                        integer(line, "ts_ms"),
                        text(line, "event_id"),
                        text(line, "event_type"),
                        text(line, "raw"),
                        optionalInteger(line, "session_start_ms"),
                        profileText(optionalObject(line, "profile")),
                        optionalNumber(line, "score"),
                        null);
        event.record(); // a bad record is an error of its input line
        return event;
    }

    private static String profileText(JsonNode profile) {
        return profile == null || profile.isNull() ? null : profile.toString();
    }

    private static String text(JsonNode line, String name) {
        JsonNode value = line.get(name);
        if (value == null || !value.isTextual()) {
            throw new IllegalArgumentException("'" + name + "' must be a string");
        }
        return value.textValue();
    }

    private static long integer(JsonNode line, String name) {
        JsonNode value = line.get(name);
        if (value == null || !value.isIntegralNumber() || !value.canConvertToLong()) {
            throw new IllegalArgumentException("'" + name + "' must be an integer");
        }
        return value.longValue();
    }

    private static Long optionalInteger(JsonNode line, String name) {
        JsonNode value = line.get(name);
        return value == null || value.isNull() ? null : integer(line, name);
    }

    private static JsonNode optionalObject(JsonNode line, String name) {
        JsonNode value = line.get(name);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isObject()) {
            throw new IllegalArgumentException("'" + name + "' must be an object or null");
        }
        return value;
    }

    private static Double optionalNumber(JsonNode line, String name) {
        JsonNode value = line.get(name);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isNumber()) {
            throw new IllegalArgumentException("'" + name + "' must be a number or null");
        }
        return value.doubleValue();
    }

    public String customerKey() {
        return customerKey;
    }

    /** The customer that decisions name (the input line's customer_id). */
    public String customerId() {
        return customerId;
    }

    public long tsMs() {
        return tsMs;
    }

    public String eventId() {
        return eventId;
    }

    public String eventType() {
        return eventType;
    }

    public String raw() {
        return raw;
    }

    public Long sessionStartMs() {
        return sessionStartMs;
    }

    /** The profile as of the event, or null. */
    public JsonNode profile() {
        JsonNode parsed = profile;
        if (parsed == null && profileText != null) {
            parsed = Json.parse(profileText);
            profile = parsed.isNull() ? null : parsed;
        }
        return profile;
    }

    /** The profile's JSON text, or null. */
    public String profileText() {
        return profileText;
    }

    public Double score() {
        return score;
    }

    /** What candidates anchored at this event carry for later stages, or null. */
    public String extras() {
        return extras;
    }

    /** The parsed record (parsed once). */
    public JsonNode record() {
        JsonNode parsed = record;
        if (parsed == null) {
            parsed = Json.parse(raw);
            if (!parsed.isObject()) {
                throw new IllegalArgumentException("'raw' is not a JSON object");
            }
            record = parsed;
        }
        return parsed;
    }

    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof EngineEvent)) {
            return false;
        }
        EngineEvent that = (EngineEvent) other;
        return tsMs == that.tsMs
                && customerKey.equals(that.customerKey)
                && customerId.equals(that.customerId)
                && eventId.equals(that.eventId)
                && eventType.equals(that.eventType)
                && raw.equals(that.raw)
                && Objects.equals(sessionStartMs, that.sessionStartMs)
                && Objects.equals(profileText, that.profileText)
                && Objects.equals(score, that.score)
                && Objects.equals(extras, that.extras);
    }

    @Override
    public int hashCode() {
        return Objects.hash(customerKey, tsMs, eventId, raw);
    }

    @Override
    public String toString() {
        return eventType + " " + eventId + " at " + tsMs + " (" + customerKey + ")";
    }
}
