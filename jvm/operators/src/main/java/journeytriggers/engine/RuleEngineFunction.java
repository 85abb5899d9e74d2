package journeytriggers.engine;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import journeytriggers.TimeBuffer;

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
    private transient TimeBuffer<EngineEvent> buffer;
    private transient MapState<String, RuleState> ruleStates;
    private transient ValueState<Agenda> agenda;
    private transient Counter lateEvents;

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
        buffer = new TimeBuffer<>(getRuntimeContext().getMapState(
                EngineDescriptors.withTtl(EngineDescriptors.buffer(), stateTtlMs)));
        ruleStates = getRuntimeContext().getMapState(
                EngineDescriptors.withTtl(EngineDescriptors.ruleState(), stateTtlMs));
        agenda = getRuntimeContext().getState(EngineDescriptors.withTtl(EngineDescriptors.agenda(), stateTtlMs));
        lateEvents = getRuntimeContext().getMetricGroup().counter("engine_late_events");
    }

    @Override
    public TypeInformation<Candidate> getProducedType() {
        return EngineTypes.CANDIDATE;
    }

    @Override
    public void processElement(EngineEvent event, Context ctx, Collector<Candidate> out) throws Exception {
        long ts = event.tsMs();
        if (ts <= ctx.timerService().currentWatermark()) {
            lateEvents.inc();
            ctx.output(LATE_EVENTS, event);
            return;
        }
        buffer.add(ts, event, ctx.timerService());
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Candidate> out) throws Exception {
        engine.onTime(timestamp, buffer.take(timestamp), new KeyedStore(), new KeyedTimers(ctx.timerService()), out::collect);
    }

    /** The current customer's rule states and agenda, in keyed state. */
    private final class KeyedStore implements CustomerEngine.Store {
        @Override
        public RuleState get(String ruleKey) throws Exception {
            return ruleStates.get(ruleKey);
        }

        @Override
        public void put(String ruleKey, RuleState state) throws Exception {
            ruleStates.put(ruleKey, state);
        }

        @Override
        public void remove(String ruleKey) throws Exception {
            ruleStates.remove(ruleKey);
        }

        @Override
        public Agenda agenda() throws Exception {
            return agenda.value();
        }

        @Override
        public void agenda(Agenda next) throws Exception {
            if (next == null) {
                agenda.clear();
            } else {
                agenda.update(next);
            }
        }
    }

    /** Deadline timers; a time that still has buffered events keeps its timer. */
    private final class KeyedTimers implements CustomerEngine.Timers {
        private final TimerService timers;

        KeyedTimers(TimerService timers) {
            this.timers = timers;
        }

        @Override
        public void register(long time) {
            timers.registerEventTimeTimer(time);
        }

        @Override
        public void delete(long time) throws Exception {
            if (!buffer.contains(time)) {
                timers.deleteEventTimeTimer(time);
            }
        }
    }
}
