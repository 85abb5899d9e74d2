package journeytriggers.bench;

import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * One Jackson parse of a raw event line into a {@link BenchEvent}, or {@code null} for a record
 * the project's job would dead-letter.
 *
 * <p>The checks are those of the project's reference validator
 * ({@code journey_triggers/events.py parse_event}) for a record read from a file: not longer
 * than 1,000,000 characters, a JSON object, a non-empty string {@code event_id} without NUL,
 * a known {@code event_type}, an identity, a {@code properties.decision_id} on delivery
 * feedback, a valid cart snapshot, and a valid {@code ts}: epoch milliseconds (a JSON integer
 * or a string of up to 15 digits, below 10^15) or ISO-8601 with seconds and a zone ({@code Z}
 * or {@code ±hh:mm}, offset hours up to 23), fractions beyond milliseconds truncated, impossible
 * dates refused. So the baselines do the same parsing and validation work as the project's
 * ingest, and drop the same records.
 */
public final class EventParser {

    /** The longest record the job takes by default ({@code --max-record-chars}), in code points. */
    public static final int MAX_RECORD_CHARS = 1_000_000;

    private static final Set<String> EVENT_TYPES =
            Set.of(
                    "page_view",
                    "product_view",
                    "add_to_cart",
                    "remove_from_cart",
                    "checkout_started",
                    "purchase",
                    "form_started",
                    "form_submitted",
                    "video_progress",
                    "email_open",
                    "email_click",
                    "login",
                    "consent_update",
                    "erasure_request",
                    "email_bounced",
                    "push_failed",
                    "sms_failed");

    private static final Set<String> FEEDBACK_TYPES =
            Set.of("email_bounced", "push_failed", "sms_failed");

    // UNIX_LINES and find(): '$' also matches before one final '\n', as Python's re does.
    private static final Pattern EPOCH_MS = Pattern.compile("^([0-9]{1,15})$", Pattern.UNIX_LINES);

    private static final Pattern ISO_8601 =
            Pattern.compile(
                    "^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                            + "(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$",
                    Pattern.UNIX_LINES);

    private static final long MAX_EPOCH_MS = 1_000_000_000_000_000L;

    /** Strict like Python's json.loads: trailing content is an error; NaN and Infinity are read. */
    private static final ObjectMapper MAPPER =
            JsonMapper.builder()
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .build();

    private EventParser() {}

    /** Returns the event of a raw line, or {@code null} when the job would dead-letter it. */
    public static BenchEvent parse(String raw) {
        if (raw == null || raw.isEmpty()) {
            return null;
        }
        if (raw.length() > MAX_RECORD_CHARS
                && raw.codePointCount(0, raw.length()) > MAX_RECORD_CHARS) {
            return null;
        }
        JsonNode record;
        try {
            record = MAPPER.readTree(raw);
        } catch (JsonProcessingException e) {
            return null;
        }
        if (record == null || !record.isObject()) {
            return null;
        }
        String eventId = text(record, "event_id");
        if (eventId == null || eventId.indexOf('\0') >= 0) {
            return null;
        }
        String type = text(record, "event_type");
        if (type == null || !EVENT_TYPES.contains(type)) {
            return null;
        }
        String customer =
                customerKey(
                        text(record, "customer_id"),
                        text(record, "anonymous_id"),
                        text(record, "device_id"));
        if (customer == null) {
            return null;
        }
        JsonNode properties = record.get("properties");
        boolean propertiesObject = properties != null && properties.isObject();
        if (FEEDBACK_TYPES.contains(type)
                && (!propertiesObject || text(properties, "decision_id") == null)) {
            return null;
        }
        if (propertiesObject && !validCart(properties.get("cart"))) {
            return null;
        }
        JsonNode ts = record.get("ts");
        if (ts == null || ts.isNull()) {
            return null;
        }
        long tsMs = timestampMs(ts);
        if (tsMs < 0) {
            return null;
        }
        return new BenchEvent(customer, type, tsMs);
    }

    /** The key before identity stitching, as {@code journey_triggers.events.customer_key}. */
    static String customerKey(String customerId, String anonymousId, String deviceId) {
        if (customerId != null) {
            return customerId;
        }
        if (anonymousId != null) {
            return "anon:" + anonymousId;
        }
        if (deviceId != null) {
            return "device:" + deviceId;
        }
        return null;
    }

    /** Epoch milliseconds of a {@code ts} value, or -1 when it is invalid. */
    static long timestampMs(JsonNode ts) {
        if (ts.isIntegralNumber()) {
            if (!ts.canConvertToLong()) {
                return -1;
            }
            long value = ts.longValue();
            return value >= 0 && value < MAX_EPOCH_MS ? value : -1;
        }
        if (!ts.isTextual()) {
            return -1;
        }
        return timestampMs(ts.textValue());
    }

    /** Epoch milliseconds of a {@code ts} string, or -1 when it is invalid. */
    static long timestampMs(String text) {
        Matcher epoch = EPOCH_MS.matcher(text);
        if (epoch.find()) {
            return Long.parseLong(epoch.group(1));
        }
        Matcher iso = ISO_8601.matcher(text);
        if (!iso.find()) {
            return -1;
        }
        int year = Integer.parseInt(iso.group(1));
        if (year < 1) {
            return -1; // Python's datetime has no year 0
        }
        LocalDateTime local;
        try {
            local =
                    LocalDateTime.of(
                            year,
                            Integer.parseInt(iso.group(2)),
                            Integer.parseInt(iso.group(3)),
                            Integer.parseInt(iso.group(4)),
                            Integer.parseInt(iso.group(5)),
                            Integer.parseInt(iso.group(6)));
        } catch (DateTimeException e) {
            return -1;
        }
        int offsetMinutes = 0;
        String zone = iso.group(8);
        if (!zone.equals("Z")) {
            int hours = Integer.parseInt(zone.substring(1, 3));
            int minutes = Integer.parseInt(zone.substring(4, 6));
            if (hours > 23 || minutes > 59) {
                return -1;
            }
            offsetMinutes = (hours * 60 + minutes) * (zone.charAt(0) == '+' ? 1 : -1);
        }
        String fraction = iso.group(7);
        int millis = 0;
        if (fraction != null) {
            String digits = fraction.substring(1, Math.min(fraction.length(), 4));
            millis = Integer.parseInt((digits + "00").substring(0, 3));
        }
        long seconds = local.toEpochSecond(ZoneOffset.UTC) - offsetMinutes * 60L;
        long epochMs = seconds * 1000 + millis;
        return epochMs >= 0 ? epochMs : -1;
    }

    private static String text(JsonNode object, String name) {
        JsonNode value = object.get(name);
        if (value != null && value.isTextual() && !value.textValue().isEmpty()) {
            return value.textValue();
        }
        return null;
    }

    private static boolean validCart(JsonNode cart) {
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
}
