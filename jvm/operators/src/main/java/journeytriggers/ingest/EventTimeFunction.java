package journeytriggers.ingest;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code jt_event_time(line, src_time, max_chars, max_ahead_ms, max_behind_ms, accept_unknown)}:
 * the event time of a valid record in epoch ms, and 0 for a record that is a dead letter, so
 * that no rejected record moves the watermark or its partition's progress (the source's
 * event-time column).
 */
public final class EventTimeFunction extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    public long eval(
            String line,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant srcTime,
            int maxChars,
            long maxAheadMs,
            long maxBehindMs,
            boolean acceptUnknown) {
        EventParser.Result result = LastParse.of(line, srcTime, maxChars, maxAheadMs, maxBehindMs, acceptUnknown);
        return result.event() == null ? 0L : result.event().tsMs();
    }
}
