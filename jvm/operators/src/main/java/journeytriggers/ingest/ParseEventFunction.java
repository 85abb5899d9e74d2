package journeytriggers.ingest;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * {@code jt_parse_event(line, src_time, max_chars, max_ahead_ms, max_behind_ms, accept_unknown)}:
 * the classification of one raw record by {@link EventParser}, as a row of its dead-letter
 * reason (null when valid) and the fields the job's views read: the event id and type, the
 * known customer and the anonymous identity token ({@code anon:} or {@code device:}).
 */
public final class ParseEventFunction extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    /** The row's type, as SQL. */
    public static final String TYPE = "ROW<reject_reason STRING, event_id STRING, event_type STRING, "
            + "known_customer STRING, identity_token STRING>";

    public @DataTypeHint(TYPE) Row eval(
            String line,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant srcTime,
            int maxChars,
            long maxAheadMs,
            long maxBehindMs,
            boolean acceptUnknown) {
        EventParser.Result result = LastParse.of(line, srcTime, maxChars, maxAheadMs, maxBehindMs, acceptUnknown);
        EventParser.Event event = result.event();
        if (event == null) {
            return Row.of(result.reason(), null, null, null, null);
        }
        String token = null;
        if (event.anonymousId() != null) {
            token = "anon:" + event.anonymousId();
        } else if (event.deviceId() != null) {
            token = "device:" + event.deviceId();
        }
        return Row.of(null, event.eventId(), event.eventType(), event.customerId(), token);
    }
}
