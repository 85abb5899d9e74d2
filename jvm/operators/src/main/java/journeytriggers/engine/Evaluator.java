package journeytriggers.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The trigger kinds, incrementally: the semantics of journey_triggers/semantics/evaluator.py
 * computed one customer millisecond at a time. {@link #onEvents} takes ALL of a customer's
 * events of one millisecond (sorted by (ts, event_id, raw)); {@link #fire} runs once every
 * event at or before its time has been processed. Both return the new state (null: none).
 */
final class Evaluator {

    private Evaluator() {}

    private static final List<String> NO_GROUP = List.of();

    /** The group key: the fields' payload texts; null when one of them has no value. */
    static List<String> groupKey(EngineEvent event, String[][] paths) {
        if (paths.length == 0) {
            return NO_GROUP;
        }
        String[] values = new String[paths.length];
        for (int i = 0; i < paths.length; i++) {
            values[i] = PyText.payloadText(Json.scalar(event.record(), paths[i]));
            if (values[i] == null) {
                return null;
            }
        }
        return List.of(values);
    }

    static RuleState onEvents(
            Rule rule, RuleState state, List<EngineEvent> events, long t, Consumer<Candidate> out) {
        switch (rule.kind) {
            case EVENT:
                onEvent(rule, events, out);
                return null;
            case ABSENCE:
                return onAbsence(rule, (RuleState.Absence) state, events, t);
            case INACTIVITY:
                return onInactivity(rule, (RuleState.Inactivity) state, events);
            case COUNT:
                return onCount(rule, (RuleState.Count) state, events, t, out);
            case SEQUENCE:
                return onSequence(rule, (RuleState.Sequence) state, events, out);
            case RECENCY:
                return onRecency(rule, (RuleState.Recency) state, events, t, out);
            case TREND:
                return onTrend(rule, (RuleState.Trend) state, events, t, out);
            default:
                throw new IllegalStateException("unknown kind " + rule.kind);
        }
    }

    static RuleState fire(Rule rule, RuleState state, long t, Consumer<Candidate> out) {
        if (state == null) {
            return null;
        }
        switch (rule.kind) {
            case ABSENCE:
                return fireAbsence(rule, (RuleState.Absence) state, t, out);
            case INACTIVITY:
                return fireInactivity(rule, (RuleState.Inactivity) state, t, out);
            case COUNT:
                return expireCount(rule, (RuleState.Count) state, t);
            case SEQUENCE:
                return expireSequence(rule, (RuleState.Sequence) state, t);
            case RECENCY: {
                RuleState.Recency recency = (RuleState.Recency) state;
                return recency.wakeUp(rule) <= t ? null : recency;
            }
            case TREND:
                return expireTrend(rule, (RuleState.Trend) state, t);
            default:
                return state;
        }
    }

    // --- event ---------------------------------------------------------------------------------

    private static void onEvent(Rule rule, List<EngineEvent> events, Consumer<Candidate> out) {
        EventPattern on = rule.event().on();
        for (EngineEvent event : events) {
            if (on.matches(event) && Cond.holds(rule.conditions, event)) {
                AnchorInfo anchor = AnchorInfo.of(rule, event);
                String when = PyText.timestamp(event.tsMs());
                String summary = event.eventType() + " " + event.eventId() + " at " + when + " matched";
                out.accept(Candidate.of(rule, anchor, event.tsMs(), summary, null, null));
            }
        }
    }

    // --- absence -------------------------------------------------------------------------------

    private static RuleState onAbsence(
            Rule rule, RuleState.Absence state, List<EngineEvent> events, long t) {
        Rule.AbsenceTrigger trigger = rule.absence();
        RuleState.Absence s = state == null ? new RuleState.Absence() : state;
        // Absent events first: one in the same millisecond as an anchor cancels it, whatever
        // their order inside the millisecond (both window ends are inclusive).
        Set<List<String>> cancelled = null;
        for (EngineEvent event : events) {
            if (!trigger.absent().matches(event)) {
                continue;
            }
            List<String> group = groupKey(event, trigger.correlatePaths());
            if (group == null) {
                continue;
            }
            List<RuleState.Pending> pending = s.groups.get(group);
            if (pending != null) {
                pending.removeIf(p -> p.anchor.tsMs <= t && t <= p.deadline);
                if (pending.isEmpty()) {
                    s.groups.remove(group);
                }
            }
            if (cancelled == null) {
                cancelled = new HashSet<>();
            }
            cancelled.add(group);
        }
        for (EngineEvent event : events) {
            if (!trigger.anchor().matches(event)) {
                continue;
            }
            List<String> group = groupKey(event, trigger.correlatePaths());
            if (group == null) {
                continue;
            }
            List<RuleState.Pending> pending = s.groups.get(group);
            if (pending != null) {
                // This anchor follows the group's previous one: with latest_only, it supersedes
                // it when it is within its window and strictly later by (ts, event_id),
                // whatever becomes of this anchor itself.
                for (Iterator<RuleState.Pending> it = pending.iterator(); it.hasNext(); ) {
                    RuleState.Pending previous = it.next();
                    if (previous.successorSeen) {
                        continue;
                    }
                    previous.successorSeen = true;
                    if (trigger.latestOnly()
                            && event.tsMs() <= previous.deadline
                            && later(event, previous.anchor)) {
                        it.remove();
                    }
                }
                if (pending.isEmpty()) {
                    s.groups.remove(group);
                }
            }
            if (cancelled != null && cancelled.contains(group)) {
                continue;
            }
            if (!Cond.holds(rule.conditions, event)) {
                continue;
            }
            s.groups.computeIfAbsent(group, g -> new ArrayList<>(1))
                    .add(new RuleState.Pending(
                            event.tsMs() + trigger.withinMs(), false, AnchorInfo.of(rule, event)));
        }
        return s;
    }

    private static boolean later(EngineEvent event, AnchorInfo anchor) {
        return event.tsMs() > anchor.tsMs
                || (event.tsMs() == anchor.tsMs && PyText.compare(event.eventId(), anchor.eventId) > 0);
    }

    private static RuleState fireAbsence(
            Rule rule, RuleState.Absence s, long t, Consumer<Candidate> out) {
        Rule.AbsenceTrigger trigger = rule.absence();
        for (Iterator<List<RuleState.Pending>> groups = s.groups.values().iterator(); groups.hasNext(); ) {
            List<RuleState.Pending> pending = groups.next();
            for (Iterator<RuleState.Pending> it = pending.iterator(); it.hasNext(); ) {
                RuleState.Pending anchor = it.next();
                if (anchor.deadline <= t) {
                    it.remove();
                    out.accept(absenceCandidate(rule, trigger, anchor));
                }
            }
            if (pending.isEmpty()) {
                groups.remove();
            }
        }
        return s;
    }

    private static Candidate absenceCandidate(
            Rule rule, Rule.AbsenceTrigger trigger, RuleState.Pending pending) {
        AnchorInfo anchor = pending.anchor;
        String same = trigger.correlateOn().isEmpty()
                ? ""
                : " with the same " + String.join(", ", trigger.correlateOn());
        String summary = anchor.eventType + " " + anchor.eventId + " at " + PyText.timestamp(anchor.tsMs)
                + " had no " + trigger.absent().typesText() + same + " within " + trigger.withinText();
        return Candidate.of(
                rule, anchor, pending.deadline, summary, PyText.duration(trigger.withinMs()),
                trigger.absent().types);
    }

    // --- inactivity ----------------------------------------------------------------------------

    private static RuleState onInactivity(
            Rule rule, RuleState.Inactivity state, List<EngineEvent> events) {
        Rule.InactivityTrigger trigger = rule.inactivity();
        RuleState.Inactivity s = state == null ? new RuleState.Inactivity() : state;
        for (EngineEvent event : events) {
            RuleState.Session open = s.sessions.isEmpty() ? null : s.sessions.get(s.sessions.size() - 1);
            if (open == null || event.tsMs() - open.lastTs > trigger.gapMs()) {
                if (open != null && open.last == null) {
                    s.sessions.remove(s.sessions.size() - 1); // ended, and cannot fire
                }
                open = new RuleState.Session(event.tsMs(), false, null);
                s.sessions.add(open);
            }
            open.lastTs = event.tsMs();
            open.whileMatched |= trigger.whilePattern() == null || trigger.whilePattern().matches(event);
            open.last = open.whileMatched && Cond.holds(rule.conditions, event)
                    ? AnchorInfo.of(rule, event)
                    : null;
        }
        return s;
    }

    private static RuleState fireInactivity(
            Rule rule, RuleState.Inactivity s, long t, Consumer<Candidate> out) {
        Rule.InactivityTrigger trigger = rule.inactivity();
        for (Iterator<RuleState.Session> it = s.sessions.iterator(); it.hasNext(); ) {
            RuleState.Session session = it.next();
            if (session.last == null) {
                if (session.lastTs + trigger.gapMs() <= t) {
                    it.remove();
                }
                continue;
            }
            long at = session.lastTs + trigger.gapMs() + trigger.delayMs();
            if (at <= t) {
                it.remove();
                AnchorInfo last = session.last;
                String during = trigger.whilePattern() == null
                        ? ""
                        : "; the session had " + trigger.whilePattern().typesText();
                String summary = "no activity for " + trigger.gapText() + " after " + last.eventType + " "
                        + last.eventId + " at " + PyText.timestamp(last.tsMs) + during;
                out.accept(Candidate.of(rule, last, at, summary, PyText.duration(trigger.gapMs()), null));
            }
        }
        return s;
    }

    // --- count ---------------------------------------------------------------------------------

    private static RuleState onCount(
            Rule rule, RuleState.Count state, List<EngineEvent> events, long t, Consumer<Candidate> out) {
        Rule.CountTrigger trigger = rule.count();
        Map<List<String>, List<EngineEvent>> atT = null;
        for (EngineEvent event : events) {
            if (!trigger.on().matches(event)) {
                continue;
            }
            List<String> group = groupKey(event, trigger.groupPaths());
            if (group == null) {
                continue;
            }
            if (atT == null) {
                atT = new LinkedHashMap<>();
            }
            atT.computeIfAbsent(group, g -> new ArrayList<>(1)).add(event);
        }
        if (atT == null) {
            return state;
        }
        RuleState.Count s = state == null ? new RuleState.Count() : state;
        int atLeast = trigger.atLeast();
        long from = t - trigger.withinMs();
        for (Map.Entry<List<String>, List<EngineEvent>> entry : atT.entrySet()) {
            long[] recent = s.groups.get(entry.getKey());
            int n = entry.getValue().size();
            int before = 0;
            if (recent != null) {
                for (long time : recent) {
                    if (time >= from) {
                        before++;
                    }
                }
            }
            // Exact when below at_least (the at_least most recent times are kept).
            long count = (long) before + n;
            if (count >= atLeast && before < atLeast) {
                // The events are sorted: the last is the greatest (event_id, raw).
                EngineEvent anchorEvent = entry.getValue().get(n - 1);
                if (Cond.holds(rule.conditions, anchorEvent)) {
                    AnchorInfo anchor = AnchorInfo.of(rule, anchorEvent);
                    String same = trigger.groupBy().isEmpty()
                            ? ""
                            : " with the same " + String.join(", ", trigger.groupBy());
                    String summary = anchor.eventType + " " + anchor.eventId + " at "
                            + PyText.timestamp(anchor.tsMs) + " made " + count + " "
                            + trigger.on().typesText() + same + " within " + trigger.withinText()
                            + " (at least " + atLeast + ")";
                    out.accept(Candidate.of(rule, anchor, t, summary, PyText.duration(trigger.withinMs()), null));
                }
            }
            // Keep the at_least most recent times that a later moment can still count.
            int kept = 0;
            long[] merged = new long[(recent == null ? 0 : recent.length) + Math.min(n, atLeast)];
            if (recent != null) {
                for (long time : recent) {
                    if (time > from) {
                        merged[kept++] = time;
                    }
                }
            }
            for (int i = 0; i < Math.min(n, atLeast); i++) {
                merged[kept++] = t;
            }
            s.groups.put(entry.getKey(), Arrays.copyOfRange(merged, Math.max(0, kept - atLeast), kept));
        }
        return s;
    }

    private static RuleState expireCount(Rule rule, RuleState.Count s, long t) {
        long through = t - rule.count().withinMs(); // times at or before are out of every later window
        for (Iterator<Map.Entry<List<String>, long[]>> it = s.groups.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<List<String>, long[]> entry = it.next();
            long[] times = entry.getValue();
            int first = 0;
            while (first < times.length && times[first] <= through) {
                first++;
            }
            if (first == times.length) {
                it.remove();
            } else if (first > 0) {
                entry.setValue(Arrays.copyOfRange(times, first, times.length));
            }
        }
        return s;
    }

    // --- sequence ------------------------------------------------------------------------------

    private static RuleState onSequence(
            Rule rule, RuleState.Sequence state, List<EngineEvent> events, Consumer<Candidate> out) {
        Rule.SequenceTrigger trigger = rule.sequence();
        Rule.Step[] steps = trigger.steps();
        int variables = trigger.variableStep().length;
        RuleState.Sequence s = state == null ? new RuleState.Sequence() : state;
        for (EngineEvent event : events) {
            List<String> group = groupKey(event, trigger.samePaths());
            if (group == null) {
                continue;
            }
            // Whether the event matches each step, decided on first need.
            byte[] fits = new byte[steps.length];
            List<RuleState.Partial> partials = s.groups.get(group);
            RuleState.Partial completed = null;
            if (partials != null) {
                partials.removeIf(p -> event.tsMs() - p.firstTs >= trigger.withinMs());
                for (RuleState.Partial partial : partials) {
                    int stepIndex = trigger.variableStep()[partial.position];
                    Rule.Step step = steps[stepIndex];
                    boolean taken = matches(step, stepIndex, fits, event);
                    if (taken && trigger.variableFirst()[partial.position] && step.minGapMs() > 0) {
                        taken = event.tsMs() >= partial.lastTs + step.minGapMs();
                    }
                    if (taken) {
                        partial.lastTs = event.tsMs();
                        partial.position++;
                        if (partial.position == variables && completed == null) {
                            completed = partial;
                        }
                    }
                }
            }
            if (completed != null) {
                // Matches never overlap: every partial match started at or before it is dropped.
                s.groups.remove(group);
                if (Cond.holds(rule.conditions, event)) {
                    AnchorInfo last = AnchorInfo.of(rule, event);
                    String summary = last.eventType + " " + last.eventId + " at " + PyText.timestamp(last.tsMs)
                            + " completed " + steps.length + " steps started by " + completed.firstType + " "
                            + completed.firstId + " at " + PyText.timestamp(completed.firstTs) + " within "
                            + trigger.withinText();
                    out.accept(Candidate.of(
                            rule, last, event.tsMs(), summary, PyText.duration(trigger.withinMs()), null));
                }
                continue;
            }
            if (matches(steps[0], 0, fits, event)) {
                if (partials == null) {
                    partials = new ArrayList<>(1);
                    s.groups.put(group, partials);
                }
                partials.add(new RuleState.Partial(event.tsMs(), event.eventId(), event.eventType(), 1, event.tsMs()));
            } else if (partials != null && partials.isEmpty()) {
                s.groups.remove(group);
            }
        }
        return s;
    }

    private static boolean matches(Rule.Step step, int index, byte[] fits, EngineEvent event) {
        if (fits[index] == 0) {
            fits[index] = step.on().matches(event) ? (byte) 1 : (byte) 2;
        }
        return fits[index] == 1;
    }

    private static RuleState expireSequence(Rule rule, RuleState.Sequence s, long t) {
        long within = rule.sequence().withinMs();
        // After every event at or before t, a later event is at least t + 1: too late for
        // partial matches that started at or before t + 1 - within.
        for (Iterator<List<RuleState.Partial>> it = s.groups.values().iterator(); it.hasNext(); ) {
            List<RuleState.Partial> partials = it.next();
            partials.removeIf(p -> p.firstTs + within - 1 <= t);
            if (partials.isEmpty()) {
                it.remove();
            }
        }
        return s;
    }

    // --- recency -------------------------------------------------------------------------------

    private static RuleState onRecency(
            Rule rule, RuleState.Recency state, List<EngineEvent> events, long t, Consumer<Candidate> out) {
        Rule.RecencyTrigger trigger = rule.recency();
        RuleState.Recency s = state;
        // The history at an event includes the since events of its millisecond, itself too.
        for (EngineEvent event : events) {
            if (trigger.sinceTypes().contains(event.eventType())) {
                if (s == null) {
                    s = new RuleState.Recency(t);
                }
                s.lastTs = t;
                break;
            }
        }
        for (EngineEvent event : events) {
            if (!trigger.on().matches(event)) {
                continue;
            }
            boolean holds = trigger.moreThan()
                    ? s == null || t - s.lastTs > trigger.boundMs()
                    : s != null && t - s.lastTs <= trigger.boundMs();
            if (!holds || !Cond.holds(rule.conditions, event)) {
                continue;
            }
            AnchorInfo anchor = AnchorInfo.of(rule, event);
            String last = s == null ? "none" : "at " + PyText.timestamp(s.lastTs);
            String bound = (trigger.moreThan() ? "more than " : "at most ") + trigger.boundText();
            String summary = anchor.eventType + " " + anchor.eventId + " at " + PyText.timestamp(t) + ": last "
                    + String.join(" or ", trigger.sinceTypes()) + " " + last + " (" + bound + " before)";
            out.accept(Candidate.of(rule, anchor, t, summary, PyText.duration(trigger.boundMs()), null));
        }
        return s;
    }

    // --- trend ---------------------------------------------------------------------------------

    private static RuleState onTrend(
            Rule rule, RuleState.Trend state, List<EngineEvent> events, long t, Consumer<Candidate> out) {
        Rule.TrendTrigger trigger = rule.trend();
        List<EngineEvent> matching = null;
        for (EngineEvent event : events) {
            if (trigger.on().matches(event)) {
                if (matching == null) {
                    matching = new ArrayList<>(1);
                }
                matching.add(event);
            }
        }
        if (matching == null) {
            return state;
        }
        RuleState.Trend s = state == null ? new RuleState.Trend() : state;
        long window = trigger.windowMs();
        long half = window / 2;
        // Keep [t - window, t]; all of the millisecond's matching events count, before or after.
        int first = 0;
        while (first < s.times.length && s.times[first] < t - window) {
            first++;
        }
        int size = s.times.length - first;
        long[] times = Arrays.copyOfRange(s.times, first, first + size + 1);
        int[] counts = Arrays.copyOfRange(s.counts, first, first + size + 1);
        times[size] = t;
        counts[size] = matching.size();
        s.times = times;
        s.counts = counts;
        long recent = 0;
        long previous = 0;
        for (int i = 0; i < times.length; i++) {
            if (times[i] >= t - half) {
                recent += counts[i];
            } else {
                previous += counts[i];
            }
        }
        if (recent >= trigger.minRecent() && recent > previous) {
            String halfText = PyText.duration(half);
            for (EngineEvent event : matching) {
                if (!Cond.holds(rule.conditions, event)) {
                    continue;
                }
                AnchorInfo anchor = AnchorInfo.of(rule, event);
                String summary = anchor.eventType + " " + anchor.eventId + " at " + PyText.timestamp(t) + ": "
                        + recent + " " + trigger.on().typesText() + " in the last " + halfText + " vs "
                        + previous + " in the " + halfText + " before (at least " + trigger.minRecent() + ")";
                out.accept(Candidate.of(rule, anchor, t, summary, PyText.duration(window), null));
            }
        }
        return s;
    }

    private static RuleState expireTrend(Rule rule, RuleState.Trend s, long t) {
        long through = t - rule.trend().windowMs();
        int first = 0;
        while (first < s.times.length && s.times[first] <= through) {
            first++;
        }
        if (first == s.times.length) {
            return null;
        }
        if (first > 0) {
            s.times = Arrays.copyOfRange(s.times, first, s.times.length);
            s.counts = Arrays.copyOfRange(s.counts, first, s.counts.length);
        }
        return s;
    }
}
