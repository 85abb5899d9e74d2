package journeytriggers.engine;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.BasicArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;
import journeytriggers.Keys;
import journeytriggers.NeverIdleOperator;

/**
 * The rule engine as a step of the job (jobs/engine_stage.py): rows of prepared events in,
 * rows of candidates out, keyed by customer in between. Every step is Java; the rows come from
 * and go back to the job's tables, whose event time and watermarks they keep (a candidate's
 * record timestamp is its trigger time).
 */
public final class EngineStreams {

    private EngineStreams() {}

    /** The input rows' columns, in order (session_start_ms, profile and extras may be null). */
    public static final List<String> INPUT_COLUMNS = List.of(
            "customer_key", "customer_id", "ts_ms", "event_id", "event_type", "line",
            "session_start_ms", "profile", "extras");

    /** The candidate rows' columns, in order. */
    public static final String[] OUTPUT_COLUMNS = {
        "decision_id", "customer_id", "rule_id", "rule_version", "trigger_time_ms", "action",
        "channels", "payload", "cart", "kind", "summary", "anchor_event_id", "anchor_event_type",
        "anchor_time", "window", "absent_event_types", "anchor_ts_ms", "extras", "priority", "event_ts_ms",
    };

    private static final TypeInformation<?>[] OUTPUT_TYPES = {
        Types.STRING, Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING,
        BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO, Types.MAP(Types.STRING, Types.STRING),
        BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO, Types.STRING, Types.STRING, Types.STRING,
        Types.STRING, Types.STRING, Types.STRING, BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO,
        Types.LONG, Types.STRING, Types.INT, Types.LONG,
    };

    /** The candidate rows' type. */
    public static final RowTypeInfo OUTPUT_TYPE = new RowTypeInfo(OUTPUT_TYPES, OUTPUT_COLUMNS);

    /**
     * Returns the candidates of the rule set {@code rulesJson} (its IR) over {@code rows}. The
     * three operators are named and given uids {@code name-input}, {@code name} (the keyed
     * engine, whose state a savepoint holds) and {@code name-output}. {@code stateTtlMs}: the
     * job's state TTL (0: none; see EngineDescriptors.withTtl).
     */
    public static DataStream<Row> candidates(
            DataStream<Row> rows, String rulesJson, boolean deferScore, long stateTtlMs, String name) {
        DataStream<EngineEvent> events =
                rows.map(new ToEvent(), EngineTypes.EVENT).name(name + "-input").uid(name + "-input");
        DataStream<Candidate> candidates = events.keyBy(new ByCustomerKey(), Types.STRING)
                .process(new RuleEngineFunction(rulesJson, deferScore, stateTtlMs), EngineTypes.CANDIDATE)
                .name(name)
                .uid(name);
        return candidates.map(new ToRow(), OUTPUT_TYPE).name(name + "-output").uid(name + "-output");
    }

    /**
     * As {@link #candidates}, with the rules also changed live by {@code changes}: rows whose
     * columns 0-4 are {@link ControlledRuleEngineFunction#CHANGE_TYPE}'s and column 5 the change's
     * effective time (epoch ms). With {@code wholeChanges} (a bounded run) the changes have no
     * watermark until read to their end, so no event passes a change not read yet. Live, they
     * hold no event back (their watermark is the end of time at once): a change applies from its
     * effective time if it arrives before the events' watermark passes that time, and otherwise
     * from when it arrives (ControlledRuleEngineFunction counts those). Returns the candidate rows
     * and the rejected changes (rows of {@link ControlledRuleEngineFunction#REJECT_TYPE}).
     */
    public static List<DataStream<Row>> controlledCandidates(
            DataStream<Row> rows, DataStream<Row> changes, String rulesJson, boolean deferScore, long stateTtlMs,
            String name, boolean wholeChanges) {
        WatermarkStrategy<Row> strategy = wholeChanges
                ? WatermarkStrategy.noWatermarks()
                : WatermarkStrategy.forGenerator(context -> new HoldingNothingBack());
        DataStream<Row> timed = changes
                .map(row -> Row.of(row.getField(0), row.getField(1), row.getField(2), row.getField(3),
                        row.getField(4), row.getField(5)), CHANGE_ROW_TYPE)
                .name(name + "-changes").uid(name + "-changes")
                .assignTimestampsAndWatermarks(strategy.withTimestampAssigner((row, previous) -> (Long) row.getField(5)))
                .name(name + "-change-times").uid(name + "-change-times");
        if (wholeChanges) {
            timed = timed.transform(name + "-changes-never-idle", CHANGE_ROW_TYPE, new NeverIdleOperator<>())
                    .name(name + "-changes-never-idle").uid(name + "-changes-never-idle");
        }
        DataStream<Row> broadcastRows = timed.map(row -> Row.of(row.getField(0), row.getField(1), row.getField(2),
                row.getField(3), row.getField(4)), ControlledRuleEngineFunction.CHANGE_TYPE)
                .name(name + "-change-rows").uid(name + "-change-rows");
        DataStream<EngineEvent> events =
                rows.map(new ToEvent(), EngineTypes.EVENT).name(name + "-input").uid(name + "-input");
        SingleOutputStreamOperator<Candidate> candidates = events.keyBy(new ByCustomerKey(), Types.STRING)
                .connect(broadcastRows.broadcast(ControlledRuleEngineFunction.changesDescriptor()))
                .process(new ControlledRuleEngineFunction(rulesJson, deferScore, stateTtlMs), EngineTypes.CANDIDATE)
                .name(name)
                .uid(name);
        DataStream<Row> out = candidates.map(new ToRow(), OUTPUT_TYPE).name(name + "-output").uid(name + "-output");
        return List.of(out, candidates.getSideOutput(ControlledRuleEngineFunction.REJECTED));
    }

    /** A watermark generator that lets every other input lead: the end of time, at once. */
    static final class HoldingNothingBack implements WatermarkGenerator<Row> {
        @Override
        public void onEvent(Row event, long eventTimestamp, WatermarkOutput output) {}

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            output.emitWatermark(new Watermark(Long.MAX_VALUE));
        }
    }

    private static final RowTypeInfo CHANGE_ROW_TYPE = appended(ControlledRuleEngineFunction.CHANGE_TYPE,
            new String[] {"effective_ms"}, Types.LONG);

    /** The columns {@link #withCatalog} adds to the candidate rows. */
    public static final String[] CATALOG_COLUMNS = {
        "product_id", "catalog_at_ms", "catalog_found", "catalog_category", "catalog_price",
        "catalog_margin_tier", "catalog_version_ms",
    };

    /** The candidate rows' type with the catalog columns. */
    public static final RowTypeInfo CATALOG_OUTPUT_TYPE = appended(OUTPUT_TYPE,
            new String[] {"product_id", "catalog_at_ms"}, Types.STRING, Types.LONG);

    private static final RowTypeInfo LOOKUP_TYPE = appended(
            CATALOG_OUTPUT_TYPE,
            new String[] {"catalog_found", "catalog_category", "catalog_price", "catalog_margin_tier",
                "catalog_version_ms"},
            Types.BOOLEAN, Types.STRING, Types.DOUBLE, Types.STRING, Types.LONG);

    /** The candidate rows' type after {@link #withCatalog}. */
    public static RowTypeInfo catalogType() {
        return LOOKUP_TYPE;
    }

    /**
     * Returns the candidates (rows of {@link #OUTPUT_TYPE}) with the catalog version of their
     * anchor's product (the extras' {@code product_id}) in effect at their event time (the
     * {@code event_ts_ms} column: the anchor's, or an inactivity session's end). Candidates without
     * a product pass with no version. {@code versions} are rows of
     * {@link CatalogLookupFunction#versionType()}, with the catalog's event time and watermarks.
     * With {@code wholeCatalog} (a bounded run), the versions never pass as idle: a catalog
     * source subtask waiting for its split is idle, and its neighbour's end of input would then
     * let candidates pass a catalog not read yet.
     */
    public static DataStream<Row> withCatalog(
            DataStream<Row> candidates, DataStream<Row> versions, long retentionMs,
            boolean wholeCatalog, String name) {
        if (wholeCatalog) {
            versions = versions.transform(name + "-never-idle", versions.getType(), new NeverIdleOperator<>())
                    .name(name + "-never-idle")
                    .uid(name + "-never-idle");
        }
        DataStream<Row> located = candidates.map(new Locate(), CATALOG_OUTPUT_TYPE)
                .name(name + "-locate").uid(name + "-locate");
        int product = OUTPUT_COLUMNS.length;
        DataStream<Row> none = located.filter(row -> row.getField(product) == null)
                .name(name + "-no-product").uid(name + "-no-product")
                .map(row -> appended(row, new Object[] {false, null, null, null, null}), LOOKUP_TYPE)
                .name(name + "-unmatched").uid(name + "-unmatched");
        DataStream<Row> some = located.filter(row -> row.getField(product) != null)
                .name(name + "-with-product").uid(name + "-with-product");
        DataStream<Row> matched = some.keyBy(new ByColumn(product), Types.STRING)
                .connect(versions.keyBy(new ByColumn(0), Types.STRING))
                .process(new CatalogLookupFunction(product + 1, retentionMs, CATALOG_OUTPUT_TYPE), LOOKUP_TYPE)
                .name(name)
                .uid(name);
        return none.union(matched);
    }

    /** A row with {@code values} appended. */
    static Row appended(Row row, Object[] values) {
        Row out = new Row(row.getKind(), row.getArity() + values.length);
        for (int i = 0; i < row.getArity(); i++) {
            out.setField(i, row.getField(i));
        }
        for (int i = 0; i < values.length; i++) {
            out.setField(row.getArity() + i, values[i]);
        }
        return out;
    }

    private static RowTypeInfo appended(RowTypeInfo type, String[] names, TypeInformation<?>... types) {
        TypeInformation<?>[] allTypes = new TypeInformation<?>[type.getArity() + types.length];
        String[] allNames = new String[allTypes.length];
        for (int i = 0; i < type.getArity(); i++) {
            allTypes[i] = type.getTypeAt(i);
            allNames[i] = type.getFieldNames()[i];
        }
        for (int i = 0; i < types.length; i++) {
            allTypes[type.getArity() + i] = types[i];
            allNames[type.getArity() + i] = names[i];
        }
        return new RowTypeInfo(allTypes, allNames);
    }

    /** Adds the anchor's product id and the candidate's event time. */
    static final class Locate implements MapFunction<Row, Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public Row map(Row candidate) {
            String extras = (String) candidate.getField(17);
            String product = null;
            if (extras != null) {
                var value = Json.parse(extras).get("product_id");
                product = value == null || value.isNull() ? null : value.asText();
            }
            long at = (Long) candidate.getField(19);
            return appended(candidate, new Object[] {product, at});
        }
    }

    /** A row's text column as its key, as it reads after the row crossed the network. */
    static final class ByColumn implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;
        private final int column;

        ByColumn(int column) {
            this.column = column;
        }

        @Override
        public String getKey(Row row) {
            return Keys.asSent((String) row.getField(column));
        }
    }

    /** An input row as an engine event. */
    static final class ToEvent implements MapFunction<Row, EngineEvent> {
        private static final long serialVersionUID = 1L;

        @Override
        public EngineEvent map(Row row) {
            return new EngineEvent(
                    (String) row.getField(0), (String) row.getField(1), (Long) row.getField(2),
                    (String) row.getField(3), (String) row.getField(4), (String) row.getField(5),
                    (Long) row.getField(6), (String) row.getField(7), null, (String) row.getField(8));
        }
    }

    /** The engine's key: the stitched customer. */
    static final class ByCustomerKey implements KeySelector<EngineEvent, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(EngineEvent event) {
            return event.customerKey();
        }
    }

    /** A candidate as an output row. */
    static final class ToRow implements MapFunction<Candidate, Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public Row map(Candidate c) {
            Map<String, String> payload = c.payload() == null ? null : new HashMap<>(c.payload());
            return Row.of(
                    c.decisionId(), c.customerId(), c.ruleId(), c.ruleVersion(), c.triggerTimeMs(), c.action(),
                    array(c.channels()), payload, array(c.cart()), c.kind(), c.summary(), c.anchorEventId(),
                    c.anchorEventType(), c.anchorTime(), c.window(), array(c.absentEventTypes()),
                    c.anchorTsMs(), c.extras(), c.priority(), c.eventTsMs());
        }

        private static String[] array(List<String> texts) {
            return texts == null ? null : texts.toArray(new String[0]);
        }
    }
}
