package journeytriggers.ingest;

import java.time.Instant;
import java.util.Objects;

/**
 * The last record parsed on this thread and its result, so the SQL functions over one record
 * ({@link EventTimeFunction} in the source's event-time column, {@link ParseEventFunction} in the
 * classification, each field of its row) share one parse. Chained operators run on one thread,
 * and a record passes all of them before the next one comes, so one entry is enough; a record
 * compared equal to the last is parsed again only when the text differs.
 */
final class LastParse {

    private static final ThreadLocal<LastParse> LAST = ThreadLocal.withInitial(LastParse::new);

    private String raw;
    private Long recordTimeMs;
    private EventParser parser;
    private EventParser.Result result;

    private LastParse() {}

    /** The parse of {@code raw} under these settings, reusing this thread's last one if equal. */
    static EventParser.Result of(
            String raw, Instant recordTime, int maxChars, long maxAheadMs, long maxBehindMs, boolean acceptUnknown) {
        LastParse last = LAST.get();
        Long recordTimeMs = recordTime == null ? null : recordTime.toEpochMilli();
        EventParser parser = last.parser;
        if (parser == null || !parser.hasSettings(maxChars, maxAheadMs, maxBehindMs, acceptUnknown)) {
            parser = new EventParser(maxChars, maxAheadMs, maxBehindMs, acceptUnknown);
            last.parser = parser;
            last.raw = null;
        }
        if (last.raw == null || !Objects.equals(recordTimeMs, last.recordTimeMs) || !last.raw.equals(raw)) {
            last.result = parser.parse(raw, recordTimeMs);
            last.raw = raw;
            last.recordTimeMs = recordTimeMs;
        }
        return last.result;
    }
}
