package journeytriggers.engine;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The rule engine in a job: keyed by customer_key, it buffers each customer's events until the
 * watermark passes them, then evaluates them in (ts, event_id, raw) order, one millisecond at a
 * time, through {@link CustomerEngine}. Event-time timers exist only for buffered event times
 * and for pending deadlines (the {@link Agenda}); once nothing is pending for a customer, its
 * state entries and timers are gone (except what a rule keeps for good: recency's last time
 * for more_than). Events at or before the watermark are late: they go to {@link #LATE_EVENTS}.
 * Candidates are emitted with their trigger time as the record's timestamp.
 */
public class RuleEngineFunction extends KeyedProcessFunction<String, EngineEvent, Candidate>
        implements ResultTypeQueryable<Candidate> {

    private static final long serialVersionUID = 1L;

    /** Late events (at or before the watermark when they arrive): not evaluated. */
    public static final OutputTag<EngineEvent> LATE_EVENTS =
            new OutputTag<>("engine-late-events", EngineTypes.EVENT);

    private final String rulesJson;
    private final boolean deferScore;
    private final long stateTtlMs;

    private transient CustomerEngine engine;
    private transient EngineKeyedState state;

    /** The rule set's IR (journey_triggers/rules/ir.py rule_set_json); checked here. */
    public RuleEngineFunction(String rulesJson) {
        this(rulesJson, false);
    }

    /** With {@code deferScore}, score conditions are left to the job's scoring stage (RuleSet.parse). */
    public RuleEngineFunction(String rulesJson, boolean deferScore) {
        this(rulesJson, deferScore, 0L);
    }

    /** With {@code stateTtlMs} > 0, every state entry expires that long after its last write. */
    public RuleEngineFunction(String rulesJson, boolean deferScore, long stateTtlMs) {
        RuleSet.parse(rulesJson, deferScore); // fail at job construction, not in the task
        this.rulesJson = rulesJson;
        this.deferScore = deferScore;
        this.stateTtlMs = stateTtlMs;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        engine = new CustomerEngine(RuleSet.parse(rulesJson, deferScore));
        state = new EngineKeyedState(getRuntimeContext(), stateTtlMs);
    }

    @Override
    public TypeInformation<Candidate> getProducedType() {
        return EngineTypes.CANDIDATE;
    }

    @Override
    public void processElement(EngineEvent event, Context ctx, Collector<Candidate> out) throws Exception {
        if (!state.add(event, ctx.timerService())) {
            ctx.output(LATE_EVENTS, event);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Candidate> out) throws Exception {
        state.onTime(engine, timestamp, ctx.timerService(), out::collect);
    }
}
