package journeytriggers;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import journeytriggers.engine.PyText;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.typeutils.ListTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Drops the copies of an event that a producer delivered twice, before anything reads it.
 *
 * <p>journey_triggers/semantics/dedup.py states the rule. Per customer (the record's own
 * identity, before stitching) and event id, the first record in (time, event id, record text)
 * order is kept; a later record with the same event id within the horizon after the kept one's
 * time is a <i>duplicate</i> when its text is the kept one's (dropped, counted) and a
 * <i>conflict</i> otherwise (a dead letter). Records wait in state until the watermark passes
 * their time, so arrival order never matters; the kept ids are forgotten at their horizon by a
 * timer. Input rows: event_id, event_type, known_customer, identity_token, ts, ts_ms, line,
 * then any columns; the output rows are the input rows.
 */
public final class Deduplication {

    /** The counter of dropped duplicates, in the operator's metric group. */
    public static final String DUPLICATES_METRIC = "duplicate_events";
    /** The counter of conflicting records (dead letters). */
    public static final String CONFLICTS_METRIC = "conflicting_event_ids";

    static final int EVENT_ID = 0;
    static final int KNOWN_CUSTOMER = 2;
    static final int IDENTITY_TOKEN = 3;
    static final int TS_MS = 5;
    static final int LINE = 6;

    private Deduplication() {}

    /** The side output of conflicting records. */
    public static OutputTag<Row> conflictsTag(TypeInformation<Row> type) {
        return new OutputTag<>("conflicting-event-ids", type);
    }

    /** The side output of dropped duplicates. */
    public static OutputTag<Row> duplicatesTag(TypeInformation<Row> type) {
        return new OutputTag<>("duplicate-events", type);
    }

    /** Return {@code rows} without duplicates; the step is named and has the uid {@code name}. */
    public static SingleOutputStreamOperator<Row> apply(DataStream<Row> rows, long horizonMs, String name) {
        TypeInformation<Row> type = rows.getType();
        return rows.keyBy(new OwnIdentity(), Types.STRING)
                .process(new DeduplicateFunction(horizonMs, type), type)
                .name(name)
                .uid(name);
    }

    /** The conflicting records of {@link #apply}'s result. */
    public static DataStream<Row> conflicts(SingleOutputStreamOperator<Row> deduplicated) {
        return deduplicated.getSideOutput(conflictsTag(deduplicated.getType()));
    }

    /** The dropped duplicates of {@link #apply}'s result. */
    public static DataStream<Row> duplicates(SingleOutputStreamOperator<Row> deduplicated) {
        return deduplicated.getSideOutput(duplicatesTag(deduplicated.getType()));
    }

    /** A record's own identity: its customer id, else its anonymous or device token. */
    static final class OwnIdentity implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(Row row) {
            String known = (String) row.getField(KNOWN_CUSTOMER);
            return Keys.asSent(known != null ? known : (String) row.getField(IDENTITY_TOKEN));
        }
    }

    /** The keyed step: see {@link Deduplication}. */
    public static final class DeduplicateFunction extends KeyedProcessFunction<String, Row, Row> {

        private static final long serialVersionUID = 1L;

        private final long horizonMs;
        private final TypeInformation<Row> rowType;

        private transient TimeBuffer<Row> pending;
        private transient MapState<String, Tuple2<Long, String>> kept;
        private transient MapState<Long, List<String>> forgetting;
        private transient Counter duplicates;
        private transient Counter conflicts;
        private transient OutputTag<Row> conflictsTag;
        private transient OutputTag<Row> duplicatesTag;

        /**
         * @param horizonMs how long after a kept record's time a copy counts as its copy (> 0)
         * @param rowType the rows' type (for the pending state)
         */
        public DeduplicateFunction(long horizonMs, TypeInformation<Row> rowType) {
            if (horizonMs <= 0) {
                throw new IllegalArgumentException("the horizon must be > 0 ms, got " + horizonMs);
            }
            this.horizonMs = horizonMs;
            this.rowType = rowType;
        }

        @Override
        public void open(OpenContext context) {
            pending = new TimeBuffer<>(getRuntimeContext().getMapState(
                    new MapStateDescriptor<>("dedup-pending", Types.LONG, new ListTypeInfo<>(rowType))));
            kept = getRuntimeContext().getMapState(new MapStateDescriptor<>(
                    "dedup-kept", Types.STRING, Types.TUPLE(Types.LONG, Types.STRING)));
            forgetting = getRuntimeContext().getMapState(
                    new MapStateDescriptor<>("dedup-forgetting", Types.LONG, Types.LIST(Types.STRING)));
            duplicates = getRuntimeContext().getMetricGroup().counter(DUPLICATES_METRIC);
            conflicts = getRuntimeContext().getMetricGroup().counter(CONFLICTS_METRIC);
            conflictsTag = conflictsTag(rowType);
            duplicatesTag = duplicatesTag(rowType);
        }

        @Override
        public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
            pending.add((Long) row.getField(TS_MS), row, ctx.timerService());
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
            List<String> expired = forgetting.get(timestamp);
            if (expired != null) {
                for (String eventId : expired) {
                    Tuple2<Long, String> first = kept.get(eventId);
                    if (first != null && first.f0 + horizonMs + 1 == timestamp) {
                        kept.remove(eventId);
                    }
                }
                forgetting.remove(timestamp);
            }
            List<Row> rows = pending.take(timestamp);
            if (rows == null) {
                return;
            }
            rows.sort((a, b) -> {
                int byId = PyText.compare((String) a.getField(EVENT_ID), (String) b.getField(EVENT_ID));
                return byId != 0 ? byId : PyText.compare((String) a.getField(LINE), (String) b.getField(LINE));
            });
            for (Row row : rows) {
                String eventId = (String) row.getField(EVENT_ID);
                String digest = digest((String) row.getField(LINE));
                Tuple2<Long, String> first = kept.get(eventId);
                if (first != null && timestamp - first.f0 <= horizonMs) {
                    if (first.f1.equals(digest)) {
                        duplicates.inc();
                        ctx.output(duplicatesTag, row);
                    } else {
                        conflicts.inc();
                        ctx.output(conflictsTag, row);
                    }
                    continue;
                }
                kept.put(eventId, Tuple2.of(timestamp, digest));
                long forgetAt = timestamp + horizonMs + 1;
                List<String> ids = forgetting.get(forgetAt);
                if (ids == null) {
                    ids = new ArrayList<>();
                    ctx.timerService().registerEventTimeTimer(forgetAt);
                }
                ids.add(eventId);
                forgetting.put(forgetAt, ids);
                out.collect(row);
            }
        }

        /** A record's text, as a SHA-256 digest: equal texts, equal digests. */
        static String digest(String line) {
            try {
                byte[] hash = MessageDigest.getInstance("SHA-256").digest(line.getBytes(StandardCharsets.UTF_8));
                return Base64.getEncoder().encodeToString(hash);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is always available", e);
            }
        }
    }
}
