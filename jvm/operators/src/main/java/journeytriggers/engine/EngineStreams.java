package journeytriggers.engine;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.BasicArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.types.Row;

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
        "anchor_time", "window", "absent_event_types", "anchor_ts_ms", "extras",
    };

    private static final TypeInformation<?>[] OUTPUT_TYPES = {
        Types.STRING, Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING,
        BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO, Types.MAP(Types.STRING, Types.STRING),
        BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO, Types.STRING, Types.STRING, Types.STRING,
        Types.STRING, Types.STRING, Types.STRING, BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO,
        Types.LONG, Types.STRING,
    };

    /** The candidate rows' type. */
    public static final RowTypeInfo OUTPUT_TYPE = new RowTypeInfo(OUTPUT_TYPES, OUTPUT_COLUMNS);

    /**
     * Returns the candidates of the rule set {@code rulesJson} (its IR) over {@code rows}. The
     * three operators are named and given uids {@code name-input}, {@code name} (the keyed
     * engine, whose state a savepoint holds) and {@code name-output}.
     */
    public static DataStream<Row> candidates(
            DataStream<Row> rows, String rulesJson, boolean deferScore, String name) {
        DataStream<EngineEvent> events =
                rows.map(new ToEvent(), EngineTypes.EVENT).name(name + "-input").uid(name + "-input");
        DataStream<Candidate> candidates = events.keyBy(new ByCustomerKey(), Types.STRING)
                .process(new RuleEngineFunction(rulesJson, deferScore), EngineTypes.CANDIDATE)
                .name(name)
                .uid(name);
        return candidates.map(new ToRow(), OUTPUT_TYPE).name(name + "-output").uid(name + "-output");
    }

    /** An input row as an engine event. */
    static final class ToEvent implements MapFunction<Row, EngineEvent> {
        private static final long serialVersionUID = 1L;

        @Override
        public EngineEvent map(Row row) {
            String profile = (String) row.getField(7);
            return new EngineEvent(
                    (String) row.getField(0), (String) row.getField(1), (Long) row.getField(2),
                    (String) row.getField(3), (String) row.getField(4), (String) row.getField(5),
                    (Long) row.getField(6), profile == null ? null : Json.parse(profile), null,
                    (String) row.getField(8));
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
                    c.anchorTsMs(), c.extras());
        }

        private static String[] array(List<String> texts) {
            return texts == null ? null : texts.toArray(new String[0]);
        }
    }
}
