package journeytriggers.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * The engine's core, without Flink: one customer's events, one millisecond at a time, in
 * event-time order, and the rules' deadlines. The caller (the Flink function, or the command
 * line driver) guarantees the order: {@link #onTime} is called with increasing times, for
 * every time that has buffered events and for every time the customer's {@link Agenda}
 * holds, once no event at or before that time can still arrive (the watermark passed it).
 * At time t, the events of t are processed first (they cancel or extend what is due at t),
 * then everything due at or before t fires.
 */
public final class CustomerEngine {

    /** One customer's state, wherever it lives (Flink keyed state, or memory). */
    public interface Store {
        RuleState get(String ruleKey) throws Exception;

        void put(String ruleKey, RuleState state) throws Exception;

        void remove(String ruleKey) throws Exception;

        /** The customer's agenda, or null. */
        Agenda agenda() throws Exception;

        /** Stores the agenda; null: it is empty. */
        void agenda(Agenda agenda) throws Exception;
    }

    /** The customer's deadline timers. */
    public interface Timers {
        void register(long time) throws Exception;

        /** The time is no longer a deadline (it may still be a buffered event time). */
        void delete(long time) throws Exception;
    }

    private final RuleSet rules;

    public CustomerEngine(RuleSet rules) {
        this.rules = rules;
    }

    public RuleSet rules() {
        return rules;
    }

    /**
     * Processes the customer's events of time {@code t} (any order; possibly none), then
     * fires everything due at or before {@code t}, and moves the deadline timers.
     */
    public void onTime(long t, List<EngineEvent> events, Store store, Timers timers, Consumer<Candidate> out)
            throws Exception {
        Agenda stored = store.agenda();
        Agenda agenda = stored == null ? new Agenda() : stored.copy();
        TreeSet<Long> before = agenda.times();
        if (events != null && !events.isEmpty()) {
            List<EngineEvent> sorted = new ArrayList<>(events);
            sorted.sort(EngineEvent.ORDER);
            for (Rule rule : rules.rulesFor(sorted)) {
                RuleState state = rule.kind == Rule.Kind.EVENT ? null : store.get(rule.key);
                RuleState next = Evaluator.onEvents(rule, state, sorted, t, out);
                if (rule.kind != Rule.Kind.EVENT) {
                    save(rule, next, store, agenda);
                }
            }
        }
        for (String key : agenda.due(t)) {
            Rule rule = rules.byKey(key);
            if (rule == null) {
                // A rule no longer in the rule set: its state goes.
                store.remove(key);
                agenda.remove(key);
                continue;
            }
            save(rule, Evaluator.fire(rule, store.get(key), t, out), store, agenda);
            Long next = agenda.wakeUp(key);
            if (next != null && next <= t) {
                throw new IllegalStateException(rule + ": still due at " + next + " after firing at " + t);
            }
        }
        TreeSet<Long> after = agenda.times();
        for (Long time : after) {
            if (!before.contains(time)) {
                timers.register(time);
            }
        }
        for (Long time : before) {
            if (!after.contains(time)) {
                timers.delete(time);
            }
        }
        if (!agenda.equals(stored == null ? new Agenda() : stored)) {
            store.agenda(agenda.isEmpty() ? null : agenda);
        }
    }

    private static void save(Rule rule, RuleState state, Store store, Agenda agenda) throws Exception {
        if (state == null || state.isEmpty()) {
            store.remove(rule.key);
            agenda.remove(rule.key);
            return;
        }
        store.put(rule.key, state);
        long wakeUp = state.wakeUp(rule);
        agenda.set(rule.key, wakeUp);
    }
}
