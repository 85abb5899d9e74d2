package journeytriggers.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One customer's state for one stateful rule: only what its kind needs, never a record. A state
 * that holds nothing is removed by the engine ({@link #isEmpty}); {@link #wakeUp} is the next
 * time it must be looked at without an event (a deadline, or the time its content expires).
 * Group keys are the payload texts of the rule's correlation / group_by / same fields.
 */
public abstract sealed class RuleState
        permits RuleState.Absence, RuleState.Inactivity, RuleState.Count, RuleState.Sequence,
                RuleState.Recency, RuleState.Trend {

    /** No wake-up. */
    public static final long NEVER = Long.MAX_VALUE;

    abstract Rule.Kind kind();

    abstract boolean isEmpty();

    abstract long wakeUp(Rule rule);

    /** absence: the pending anchors per correlation key. */
    public static final class Absence extends RuleState {
        final Map<List<String>, List<Pending>> groups = new LinkedHashMap<>();

        @Override
        Rule.Kind kind() {
            return Rule.Kind.ABSENCE;
        }

        @Override
        boolean isEmpty() {
            return groups.isEmpty();
        }

        @Override
        long wakeUp(Rule rule) {
            long next = NEVER;
            for (List<Pending> pending : groups.values()) {
                for (Pending anchor : pending) {
                    next = Math.min(next, anchor.deadline);
                }
            }
            return next;
        }
    }

    /** An anchor waiting for its deadline, with what its candidate needs. */
    public static final class Pending {
        final long deadline;
        /** Whether the next anchor of its group has been seen (latest_only decided). */
        boolean successorSeen;
        final AnchorInfo anchor;

        Pending(long deadline, boolean successorSeen, AnchorInfo anchor) {
            this.deadline = deadline;
            this.successorSeen = successorSeen;
            this.anchor = anchor;
        }
    }

    /** inactivity: the open session, and closed ones waiting for their delay. */
    public static final class Inactivity extends RuleState {
        final List<Session> sessions = new ArrayList<>(1);

        @Override
        Rule.Kind kind() {
            return Rule.Kind.INACTIVITY;
        }

        @Override
        boolean isEmpty() {
            return sessions.isEmpty();
        }

        @Override
        long wakeUp(Rule rule) {
            Rule.InactivityTrigger trigger = rule.inactivity();
            long next = NEVER;
            for (Session session : sessions) {
                // A session that cannot fire is dropped when it ends (no event can join it).
                long at = session.last != null
                        ? session.lastTs + trigger.gapMs() + trigger.delayMs()
                        : session.lastTs + trigger.gapMs();
                next = Math.min(next, at);
            }
            return next;
        }
    }

    /** A session: its last event's time, whether `while` matched, and the candidate data. */
    public static final class Session {
        long lastTs;
        boolean whileMatched;
        /** The last event, when the session would fire (while matched, conditions hold). */
        AnchorInfo last;

        Session(long lastTs, boolean whileMatched, AnchorInfo last) {
            this.lastTs = lastTs;
            this.whileMatched = whileMatched;
            this.last = last;
        }
    }

    /**
     * count: per group, the at_least most recent timestamps, ascending. That is enough: the
     * count before T is below at_least exactly when fewer than at_least of them are in the
     * window, and then it is exact.
     */
    public static final class Count extends RuleState {
        final Map<List<String>, long[]> groups = new LinkedHashMap<>();

        @Override
        Rule.Kind kind() {
            return Rule.Kind.COUNT;
        }

        @Override
        boolean isEmpty() {
            return groups.isEmpty();
        }

        @Override
        long wakeUp(Rule rule) {
            long next = NEVER;
            for (long[] times : groups.values()) {
                next = Math.min(next, times[times.length - 1] + rule.count().withinMs());
            }
            return next;
        }
    }

    /** sequence: the partial matches per `same` key. */
    public static final class Sequence extends RuleState {
        final Map<List<String>, List<Partial>> groups = new LinkedHashMap<>();

        @Override
        Rule.Kind kind() {
            return Rule.Kind.SEQUENCE;
        }

        @Override
        boolean isEmpty() {
            return groups.isEmpty();
        }

        @Override
        long wakeUp(Rule rule) {
            long next = NEVER;
            for (List<Partial> partials : groups.values()) {
                for (Partial partial : partials) {
                    next = Math.min(next, partial.firstTs + rule.sequence().withinMs() - 1);
                }
            }
            return next;
        }
    }

    /** A partial match: its first event, the next pattern variable, the last taken time. */
    public static final class Partial {
        final long firstTs;
        final String firstId;
        final String firstType;
        int position;
        long lastTs;

        Partial(long firstTs, String firstId, String firstType, int position, long lastTs) {
            this.firstTs = firstTs;
            this.firstId = firstId;
            this.firstType = firstType;
            this.position = position;
            this.lastTs = lastTs;
        }
    }

    /** recency: the time of the customer's last since_types event. */
    public static final class Recency extends RuleState {
        long lastTs;

        Recency(long lastTs) {
            this.lastTs = lastTs;
        }

        @Override
        Rule.Kind kind() {
            return Rule.Kind.RECENCY;
        }

        @Override
        boolean isEmpty() {
            return false;
        }

        @Override
        long wakeUp(Rule rule) {
            Rule.RecencyTrigger trigger = rule.recency();
            // more_than quotes the last time in its summary: it is kept. less_than: once it is
            // older than the bound it is as good as none.
            return trigger.moreThan() ? NEVER : lastTs + trigger.boundMs();
        }
    }

    /** trend: the matching events' times in the window, as (time, count) ascending. */
    public static final class Trend extends RuleState {
        long[] times = new long[0];
        int[] counts = new int[0];

        @Override
        Rule.Kind kind() {
            return Rule.Kind.TREND;
        }

        @Override
        boolean isEmpty() {
            return times.length == 0;
        }

        @Override
        long wakeUp(Rule rule) {
            return times.length == 0 ? NEVER : times[times.length - 1] + rule.trend().windowMs();
        }
    }
}
