package journeytriggers.ingest;

import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * One raw event record in, an event or the reason it is a dead letter out: the JVM ingest's
 * parser, one JSON parse per record. The rules are journey_triggers/events.py's parse_event
 * (the reference), checked in the same order with the same reasons; tests hold the two equal on
 * the ingest corpus and on 10,000 hostile records.
 *
 * <p>JSON is read as the job's SQL functions read it (Flink's shaded Jackson with its default
 * limits: nesting at most 1,000 deep, numbers at most 1,000 digits; decimals as BigDecimal, so
 * an exponent or scale past 32 bits is not JSON; no NaN or Infinity). Duplicate keys keep the
 * last value.
 */
public final class EventParser {

    /** The event types the job knows (events.EVENT_TYPES), delivery feedback last. */
    public static final List<String> EVENT_TYPES = List.of(
            "page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_started", "purchase",
            "form_started", "form_submitted", "video_progress", "email_open", "email_click", "login",
            "consent_update", "erasure_request", "email_bounced", "push_failed", "sms_failed");

    private static final Set<String> KNOWN = Set.copyOf(EVENT_TYPES);
    private static final Set<String> FEEDBACK = Set.of("email_bounced", "push_failed", "sms_failed");

    /** Python's {@code $} matches at the end or before a final line feed: so do these. */
    private static final Pattern EPOCH_MS = Pattern.compile("[0-9]{1,15}\n?");
    private static final Pattern ISO_8601 = Pattern.compile(
            "([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\\.[0-9]{1,9})?"
                    + "(Z|[+-][0-9]{2}:[0-9]{2})\n?");

    /** events.MAX_EVENT_TIME_MS: 9998-12-31T23:59:59.999Z, the latest event time taken. */
    public static final long MAX_EVENT_TIME_MS = 253_370_764_799_999L;

    private static final ObjectMapper STRICT = JsonMapper.builder(
                    JsonFactory.builder()
                            .streamReadConstraints(StreamReadConstraints.builder()
                                    .maxNestingDepth(1_000)
                                    .maxNumberLength(1_000)
                                    .maxStringLength(Integer.MAX_VALUE)
                                    .build())
                            .build())
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .build();

    /** A valid record: the fields later stages read, its record tree and its text. */
    public record Event(
            String eventId, String eventType, String customerKey, long tsMs, String customerId,
            String anonymousId, String deviceId, String sessionId, JsonNode record, String raw) {}

    /** An event, or the reason the record is a dead letter (exactly one is non-null). */
    public record Result(Event event, String reason) {
        static Result rejected(String reason) {
            return new Result(null, reason);
        }
    }

    private final int maxChars;
    private final long maxAheadMs;
    private final long maxBehindMs;
    private final boolean acceptUnknownTypes;

    /**
     * @param maxChars the longest record, in characters (code points)
     * @param maxAheadMs with a record time, how far ahead of it {@code ts} may be (0: no bound)
     * @param maxBehindMs with a record time, how far behind it {@code ts} may be (0: no bound)
     * @param acceptUnknownTypes take event types outside {@link #EVENT_TYPES}
     */
    public EventParser(int maxChars, long maxAheadMs, long maxBehindMs, boolean acceptUnknownTypes) {
        this.maxChars = maxChars;
        this.maxAheadMs = maxAheadMs;
        this.maxBehindMs = maxBehindMs;
        this.acceptUnknownTypes = acceptUnknownTypes;
    }

    /** Whether this parser was made with these settings. */
    boolean hasSettings(int maxChars, long maxAheadMs, long maxBehindMs, boolean acceptUnknownTypes) {
        return this.maxChars == maxChars && this.maxAheadMs == maxAheadMs && this.maxBehindMs == maxBehindMs
                && this.acceptUnknownTypes == acceptUnknownTypes;
    }

    /** Parses one record; {@code recordTimeMs} is its Kafka timestamp, or null. */
    public Result parse(String raw, Long recordTimeMs) {
        if (raw == null || raw.isEmpty()) {
            return Result.rejected("empty_record");
        }
        if (raw.length() > maxChars && raw.codePointCount(0, raw.length()) > maxChars) {
            return Result.rejected("oversized_record");
        }
        JsonNode record = json(raw);
        if (record == null || !record.isObject()) {
            return Result.rejected("not_a_json_object");
        }
        String eventId = text(record, "event_id");
        if (eventId == null) {
            return Result.rejected("missing_event_id");
        }
        if (eventId.indexOf('\0') >= 0) {
            return Result.rejected("invalid_event_id");
        }
        String eventType = text(record, "event_type");
        if (eventType == null) {
            return Result.rejected("missing_event_type");
        }
        if (!acceptUnknownTypes && !KNOWN.contains(eventType)) {
            return Result.rejected("unknown_event_type");
        }
        String customerId = text(record, "customer_id");
        String anonymousId = text(record, "anonymous_id");
        String deviceId = text(record, "device_id");
        String key = customerKey(customerId, anonymousId, deviceId);
        if (key == null) {
            return Result.rejected("missing_identity");
        }
        JsonNode properties = record.get("properties");
        boolean object = properties != null && properties.isObject();
        if (FEEDBACK.contains(eventType) && (!object || text(properties, "decision_id") == null)) {
            return Result.rejected("missing_decision_id");
        }
        if (object && !validCart(properties.get("cart"))) {
            return Result.rejected("invalid_cart");
        }
        JsonNode ts = record.get("ts");
        if (ts == null || ts.isNull()) {
            return Result.rejected("missing_ts");
        }
        Long tsMs = timestampMs(ts);
        if (tsMs == null) {
            return Result.rejected("invalid_ts");
        }
        if (recordTimeMs != null) {
            if (maxAheadMs != 0 && tsMs > recordTimeMs + maxAheadMs) {
                return Result.rejected("ts_ahead_of_record_time");
            }
            if (maxBehindMs != 0 && tsMs < recordTimeMs - maxBehindMs) {
                return Result.rejected("ts_behind_record_time");
            }
        }
        return new Result(new Event(eventId, eventType, key, tsMs, customerId, anonymousId, deviceId,
                text(record, "session_id"), record, raw), null);
    }

    /** The record's JSON tree, or null if it is not JSON (as the job's SQL reads it). */
    static JsonNode json(String raw) {
        try {
            return STRICT.readTree(raw);
        } catch (JsonProcessingException | NumberFormatException | ArithmeticException e) {
            return null;
        }
    }

    /** events._text: a non-empty JSON string, else null. */
    static String text(JsonNode object, String name) {
        JsonNode value = object.get(name);
        return value != null && value.isTextual() && !value.textValue().isEmpty() ? value.textValue() : null;
    }

    /** events.customer_key: the key before identity stitching. */
    static String customerKey(String customerId, String anonymousId, String deviceId) {
        if (customerId != null) {
            return customerId;
        }
        if (anonymousId != null) {
            return "anon:" + anonymousId;
        }
        return deviceId != null ? "device:" + deviceId : null;
    }

    /** events.valid_cart: absent, null, or an array of objects with a non-empty product_id. */
    static boolean validCart(JsonNode cart) {
        if (cart == null || cart.isNull()) {
            return true;
        }
        if (!cart.isArray()) {
            return false;
        }
        for (JsonNode line : cart) {
            if (!line.isObject() || text(line, "product_id") == null) {
                return false;
            }
        }
        return true;
    }

    /** events.parse_timestamp_ms: epoch ms, or null when {@code ts} is not a valid timestamp. */
    static Long timestampMs(JsonNode ts) {
        if (ts.isIntegralNumber()) {
            if (!ts.canConvertToLong()) {
                return null;
            }
            long value = ts.longValue();
            return value >= 0 && value <= MAX_EVENT_TIME_MS ? value : null;
        }
        if (!ts.isTextual()) {
            return null;
        }
        String text = ts.textValue();
        if (EPOCH_MS.matcher(text).matches()) {
            long value = Long.parseLong(text.strip());
            return value <= MAX_EVENT_TIME_MS ? value : null;
        }
        Matcher iso = ISO_8601.matcher(text);
        if (!iso.matches()) {
            return null;
        }
        int year = Integer.parseInt(iso.group(1));
        LocalDateTime local;
        try {
            if (year < 1) {
                return null; // Python's datetime starts at year 1
            }
            local = LocalDateTime.of(year, Integer.parseInt(iso.group(2)), Integer.parseInt(iso.group(3)),
                    Integer.parseInt(iso.group(4)), Integer.parseInt(iso.group(5)), Integer.parseInt(iso.group(6)));
        } catch (DateTimeException e) {
            return null;
        }
        String zone = iso.group(8);
        int offsetMinutes = 0;
        if (!zone.equals("Z")) {
            int hours = Integer.parseInt(zone.substring(1, 3));
            int minutes = Integer.parseInt(zone.substring(4, 6));
            if (hours > 23 || minutes > 59) {
                return null;
            }
            offsetMinutes = (hours * 60 + minutes) * (zone.charAt(0) == '+' ? 1 : -1);
        }
        String fraction = iso.group(7);
        int millis = 0;
        if (fraction != null) {
            String digits = (fraction.substring(1) + "00").substring(0, 3);
            millis = Integer.parseInt(digits);
        }
        long seconds = local.toEpochSecond(ZoneOffset.UTC) - offsetMinutes * 60L;
        long epoch = seconds * 1000L + millis;
        return epoch >= 0 && epoch <= MAX_EVENT_TIME_MS ? epoch : null;
    }
}
