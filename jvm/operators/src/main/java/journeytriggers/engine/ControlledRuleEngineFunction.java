package journeytriggers.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The rule engine with its rules from the rule files and the rules control topic: as
 * {@link RuleEngineFunction}, and each time is evaluated with the rules in force at that time
 * ({@link RuleTimeline}).
 *
 * <p>The broadcast input carries the control topic's valid changes as rows of
 * {@link #CHANGE_TYPE}: the change's JSON (journey_triggers/rules/changes.py writes it), where
 * it came from and its raw text. Every instance keeps the accepted changes in broadcast state
 * (key: arrival number), so a restored or rescaled job has the same timeline. A change the
 * timeline refuses (a stale version, an unknown rule) goes to {@link #REJECTED} from instance 0
 * only (every instance sees it), as rows of {@link #REJECT_TYPE}.
 */
public class ControlledRuleEngineFunction extends KeyedBroadcastProcessFunction<String, EngineEvent, Row, Candidate>
        implements ResultTypeQueryable<Candidate> {

    private static final long serialVersionUID = 1L;

    /** The broadcast rows: change JSON, source topic, partition, offset, raw text. */
    public static final RowTypeInfo CHANGE_TYPE = new RowTypeInfo(
            new TypeInformation<?>[] {Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING},
            new String[] {"change", "src", "src_partition", "src_offset", "raw"});

    /** The rejected changes: reason, source topic, partition, offset, raw text (the dead letters' columns). */
    public static final RowTypeInfo REJECT_TYPE = new RowTypeInfo(
            new TypeInformation<?>[] {Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING},
            new String[] {"reason", "source", "source_partition", "source_offset", "raw"});

    public static final OutputTag<Row> REJECTED = new OutputTag<>("rejected-rule-changes", REJECT_TYPE);

    /** The broadcast state: accepted changes by arrival number. Part of the savepoint format. */
    public static MapStateDescriptor<Long, String> changesDescriptor() {
        return new MapStateDescriptor<>("rule-changes", Types.LONG, Types.STRING);
    }

    private final String rulesJson;
    private final boolean deferScore;
    private final long stateTtlMs;

    private transient RuleTimeline timeline;
    private transient EngineKeyedState state;
    private transient boolean reports;
    private transient Counter accepted;
    private transient Counter rejected;
    private transient Counter late;

    /** The rule files' IR; with {@code deferScore} and {@code stateTtlMs} as in RuleEngineFunction. */
    public ControlledRuleEngineFunction(String rulesJson, boolean deferScore, long stateTtlMs) {
        new RuleTimeline(rulesJson, deferScore); // fail at job construction, not in the task
        this.rulesJson = rulesJson;
        this.deferScore = deferScore;
        this.stateTtlMs = stateTtlMs;
    }

    @Override
    public void open(OpenContext openContext) {
        state = new EngineKeyedState(getRuntimeContext(), stateTtlMs);
        reports = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() == 0;
        var metrics = getRuntimeContext().getMetricGroup();
        accepted = metrics.counter("rule_changes");
        rejected = metrics.counter("rejected_rule_changes");
        late = metrics.counter("late_rule_changes");
    }

    @Override
    public TypeInformation<Candidate> getProducedType() {
        return EngineTypes.CANDIDATE;
    }

    /** The timeline, rebuilt from the broadcast state after a restore. */
    private RuleTimeline timeline(ReadOnlyBroadcastState<Long, String> changes) throws Exception {
        if (timeline == null) {
            List<Map.Entry<Long, String>> stored = new ArrayList<>();
            for (Map.Entry<Long, String> entry : changes.immutableEntries()) {
                stored.add(entry);
            }
            stored.sort(Map.Entry.comparingByKey());
            RuleTimeline built = new RuleTimeline(rulesJson, deferScore);
            for (Map.Entry<Long, String> entry : stored) {
                built.add(RuleTimeline.Change.parse(entry.getKey(), entry.getValue()));
            }
            timeline = built;
        }
        return timeline;
    }

    @Override
    public void processElement(EngineEvent event, ReadOnlyContext ctx, Collector<Candidate> out) throws Exception {
        if (!state.add(event, ctx.timerService())) {
            ctx.output(RuleEngineFunction.LATE_EVENTS, event);
        }
    }

    @Override
    public void processBroadcastElement(Row change, Context ctx, Collector<Candidate> out) throws Exception {
        BroadcastState<Long, String> changes = ctx.getBroadcastState(changesDescriptor());
        RuleTimeline current = timeline(changes);
        String json = (String) change.getField(0);
        RuleTimeline.Change parsed;
        RuleTimeline.Verdict verdict;
        try {
            parsed = RuleTimeline.Change.parse(current.size(), json);
            verdict = current.check(parsed);
        } catch (IllegalArgumentException e) {
            // The control parser wrote it, so this is an engine/parser mismatch: still a dead letter.
            parsed = null;
            verdict = RuleTimeline.Verdict.reject("invalid_rule_change: " + e.getMessage());
        }
        if (verdict.accepted()) {
            changes.put((long) current.size(), json);
            current.add(parsed);
            accepted.inc();
            if (parsed.effectiveMs() <= ctx.currentWatermark()) {
                late.inc(); // in force from the next time this instance evaluates
            }
        } else if (!verdict.noOp()) {
            rejected.inc();
            if (reports) {
                ctx.output(REJECTED, Row.of(verdict.reason(), change.getField(1), change.getField(2),
                        change.getField(3), change.getField(4)));
            }
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Candidate> out) throws Exception {
        RuleSet rules = timeline(ctx.getBroadcastState(changesDescriptor())).at(timestamp);
        state.onTime(new CustomerEngine(rules), timestamp, ctx.timerService(), out::collect);
    }
}
