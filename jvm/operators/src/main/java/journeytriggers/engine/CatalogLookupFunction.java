package journeytriggers.engine;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ListTypeInfo;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import journeytriggers.TimeBuffer;

/**
 * The catalog version of each candidate's product at the candidate's event time, keyed by
 * product id (journey_triggers/catalog.py states the rule: the latest version at or before that
 * time; of two with the same time, the one read later).
 *
 * <p>Input 1: candidate rows, with the product id and the lookup time (epoch ms) at the given
 * columns. Input 2: catalog versions (product_id, category, price, margin_tier, version_ms). A
 * candidate is looked up once the watermark of both inputs has passed its time, so no version
 * at or before it can still arrive; the output is the candidate row followed by found,
 * category, price, margin_tier and version_ms. Unlike Flink's temporal join, which keeps only
 * the latest version behind its watermark, the versions within {@code retentionMs} behind the
 * watermark are kept (and the latest one before them): the engine emits a candidate when its
 * trigger fires, up to the longest absence window or inactivity delay after its event time.
 */
public class CatalogLookupFunction extends KeyedCoProcessFunction<String, Row, Row, Row> {

    private static final long serialVersionUID = 1L;

    /** The version rows' columns. */
    public static final String[] VERSION_COLUMNS = {"product_id", "category", "price", "margin_tier", "version_ms"};

    private final int timeColumn;
    private final long retentionMs;
    private final TypeInformation<Row> candidateType;

    private transient MapState<Long, Row> versions;
    private transient TimeBuffer<Row> pending;

    /**
     * @param timeColumn the candidates' lookup-time column (epoch ms)
     * @param retentionMs how far behind the watermark a candidate's time may be
     * @param candidateType the candidate rows' type (for the pending state)
     */
    public CatalogLookupFunction(int timeColumn, long retentionMs, TypeInformation<Row> candidateType) {
        if (retentionMs < 0) {
            throw new IllegalArgumentException("retention must be >= 0 ms, got " + retentionMs);
        }
        this.timeColumn = timeColumn;
        this.retentionMs = retentionMs;
        this.candidateType = candidateType;
    }

    /** The version rows' type. */
    public static TypeInformation<Row> versionType() {
        return Types.ROW_NAMED(VERSION_COLUMNS, Types.STRING, Types.STRING, Types.DOUBLE, Types.STRING, Types.LONG);
    }

    @Override
    public void open(OpenContext openContext) {
        versions = getRuntimeContext().getMapState(
                new MapStateDescriptor<>("catalog-versions", Types.LONG, versionType()));
        pending = new TimeBuffer<>(getRuntimeContext().getMapState(
                new MapStateDescriptor<>("catalog-pending", Types.LONG, new ListTypeInfo<>(candidateType))));
    }

    @Override
    public void processElement1(Row candidate, Context ctx, Collector<Row> out) throws Exception {
        long time = (Long) candidate.getField(timeColumn);
        if (time <= ctx.timerService().currentWatermark()) {
            out.collect(lookedUp(candidate, time));
            return;
        }
        pending.add(time, candidate, ctx.timerService());
    }

    @Override
    public void processElement2(Row version, Context ctx, Collector<Row> out) throws Exception {
        versions.put((Long) version.getField(4), version); // the same time: the later one wins
        // Timers fire as the watermark passes them, so every pending candidate is ahead of it.
        expire(ctx.timerService().currentWatermark(), Long.MAX_VALUE);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
        List<Row> waiting = pending.take(timestamp);
        if (waiting != null) {
            for (Row candidate : waiting) {
                out.collect(lookedUp(candidate, timestamp));
            }
        }
        // The timers still to fire in this watermark's pass (a catalog read whole jumps from no
        // watermark to MAX) hold candidates at or after this one's time: they need its versions.
        expire(ctx.timerService().currentWatermark(), timestamp);
    }

    /**
     * Drops the versions no candidate can still need: all but the latest at or before the
     * horizon, which is the retention behind the watermark but no later than {@code pendingFrom},
     * the earliest time a pending candidate can have.
     */
    private void expire(long watermark, long pendingFrom) throws Exception {
        if (watermark == Long.MIN_VALUE || watermark - retentionMs > watermark) {
            return;
        }
        long horizon = Math.min(watermark - retentionMs, pendingFrom);
        Long latest = null;
        List<Long> older = new ArrayList<>();
        for (Iterator<Long> it = versions.keys().iterator(); it.hasNext(); ) {
            long time = it.next();
            if (time <= horizon) {
                if (latest != null) {
                    older.add(Math.min(latest, time));
                }
                latest = latest == null ? time : Math.max(latest, time);
            }
        }
        for (long time : older) {
            versions.remove(time);
        }
    }

    private Row lookedUp(Row candidate, long time) throws Exception {
        Row found = null;
        long best = Long.MIN_VALUE;
        for (Map.Entry<Long, Row> entry : versions.entries()) {
            long version = entry.getKey();
            if (version <= time && (found == null || version > best)) {
                found = entry.getValue();
                best = version;
            }
        }
        Object[] extra = found == null
                ? new Object[] {false, null, null, null, null}
                : new Object[] {true, found.getField(1), found.getField(2), found.getField(3), found.getField(4)};
        return EngineStreams.appended(candidate, extra);
    }
}
