package journeytriggers.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/** One rule of the IR (journey_triggers/rules/ir.py, RuleIR), compiled. */
public final class Rule {

    /** The trigger kinds. */
    public enum Kind { EVENT, ABSENCE, INACTIVITY, COUNT, SEQUENCE, RECENCY, TREND }

    /** {@code event}: fires on every matching event. */
    public record EventTrigger(EventPattern on) {}

    /** {@code absence}: an anchor, then no absent event within withinMs (both ends inclusive). */
    public record AbsenceTrigger(
            EventPattern anchor, EventPattern absent, long withinMs, String withinText,
            List<String> correlateOn, String[][] correlatePaths, boolean latestOnly) {}

    /** {@code inactivity}: a session ended; fires at last + gap + delay. */
    public record InactivityTrigger(long gapMs, String gapText, long delayMs, EventPattern whilePattern) {}

    /** {@code count}: at least atLeast matching events in [T - withinMs, T], once per crossing. */
    public record CountTrigger(
            EventPattern on, int atLeast, long withinMs, String withinText,
            List<String> groupBy, String[][] groupPaths) {}

    /** One step of a sequence; minGapMs is 0 without a minimum gap. */
    public record Step(EventPattern on, int atLeast, long minGapMs) {}

    /** {@code sequence}: ordered steps, the last less than withinMs after the first. */
    public record SequenceTrigger(
            Step[] steps, int[] variableStep, boolean[] variableFirst, long withinMs,
            String withinText, String[][] samePaths) {}

    /** {@code recency}: a matching event when the last since event is old (or recent). */
    public record RecencyTrigger(
            EventPattern on, List<String> sinceTypes, boolean moreThan, long boundMs, String boundText) {}

    /** {@code trend}: the recent half of the window holds more matching events than the other. */
    public record TrendTrigger(EventPattern on, long windowMs, int minRecent) {}

    final String id;
    final int version;
    /**
     * The state key: rule id and version (a new version starts with fresh state), and for a rule
     * a control message (re)activated, the time it did ("id@version@time", see RuleTimeline).
     */
    final String key;
    final boolean enabled;
    /** The rule's priority (0-100): the policy's order among one customer's triggers. */
    final int priority;
    final Kind kind;
    /** Event types the rule can use; null: every event. */
    final List<String> reads;
    final Object trigger;
    final Cond conditions;
    final String action;
    final List<String> channels;
    final String[] payloadNames;
    final String[][] payloadPaths;

    private Rule(
            String id, int version, String key, boolean enabled, int priority, Kind kind, List<String> reads,
            Object trigger, Cond conditions, String action, List<String> channels, String[] payloadNames,
            String[][] payloadPaths) {
        this.id = id;
        this.version = version;
        this.key = key;
        this.enabled = enabled;
        this.priority = priority;
        this.kind = kind;
        this.reads = reads;
        this.trigger = trigger;
        this.conditions = conditions;
        this.action = action;
        this.channels = channels;
        this.payloadNames = payloadNames;
        this.payloadPaths = payloadPaths;
    }

    public String id() {
        return id;
    }

    /**
     * This rule with its conditions left to a later stage if they read the score: the job
     * scores candidates after the engine (a vectorized Python UDF over the small candidate
     * stream) and decides such a rule's conditions on the scored candidate. Conditions only
     * choose anchors, so deciding them on the candidate gives the same decisions.
     */
    Rule deferringScore() {
        if (!Cond.usesScore(conditions)) {
            return this;
        }
        return new Rule(id, version, key, enabled, priority, kind, reads, trigger, null, action, channels,
                payloadNames, payloadPaths);
    }

    /** This rule, enabled, with the state key of an activation at {@code time} (fresh state). */
    Rule activatedAt(long time) {
        return new Rule(id, version, id + "@" + version + "@" + time, true, priority, kind, reads, trigger,
                conditions, action, channels, payloadNames, payloadPaths);
    }

    public int priority() {
        return priority;
    }

    public boolean enabled() {
        return enabled;
    }

    public int version() {
        return version;
    }

    public String key() {
        return key;
    }

    public Kind kind() {
        return kind;
    }

    EventTrigger event() {
        return (EventTrigger) trigger;
    }

    AbsenceTrigger absence() {
        return (AbsenceTrigger) trigger;
    }

    InactivityTrigger inactivity() {
        return (InactivityTrigger) trigger;
    }

    CountTrigger count() {
        return (CountTrigger) trigger;
    }

    SequenceTrigger sequence() {
        return (SequenceTrigger) trigger;
    }

    RecencyTrigger recency() {
        return (RecencyTrigger) trigger;
    }

    TrendTrigger trend() {
        return (TrendTrigger) trigger;
    }

    static String[] path(String field) {
        return field.split("\\.", -1);
    }

    static String[][] paths(List<String> fields) {
        String[][] paths = new String[fields.size()][];
        for (int i = 0; i < paths.length; i++) {
            paths[i] = path(fields.get(i));
        }
        return paths;
    }

    /** Compiles one rule of an IR document. */
    static Rule parse(JsonNode node, int expectedIrVersion) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("a rule is a JSON object");
        }
        String id = Ir.text(node, "id", "rule");
        String where = "rule '" + id + "'";
        long irVersion = Ir.integer(node, "ir_version", where);
        if (irVersion != expectedIrVersion) {
            throw new IllegalArgumentException(
                    where + ": ir_version " + irVersion + " is not supported (this engine reads "
                            + expectedIrVersion + ")");
        }
        int version = (int) Ir.integer(node, "version", where);
        boolean enabled = Ir.bool(node, "enabled", where);
        List<String> reads = Ir.optionalTexts(node, "reads", where);
        JsonNode trigger = Ir.required(node, "trigger", where);
        String kindText = Ir.text(trigger, "kind", where + ".trigger");
        Kind kind;
        Object spec;
        String at = where + ".trigger";
        switch (kindText) {
            case "event":
                kind = Kind.EVENT;
                spec = new EventTrigger(EventPattern.parse(trigger.get("on"), at + ".on"));
                break;
            case "absence": {
                kind = Kind.ABSENCE;
                List<String> correlate = Ir.texts(trigger, "correlate_on", at);
                spec = new AbsenceTrigger(
                        EventPattern.parse(trigger.get("anchor"), at + ".anchor"),
                        EventPattern.parse(trigger.get("absent"), at + ".absent"),
                        positive(Ir.integer(trigger, "within_ms", at), "within_ms", at),
                        Ir.text(trigger, "within_text", at),
                        correlate,
                        paths(correlate),
                        Ir.bool(trigger, "latest_only", at));
                break;
            }
            case "inactivity": {
                kind = Kind.INACTIVITY;
                JsonNode whileNode = trigger.get("while");
                long delay = Ir.integer(trigger, "delay_ms", at);
                if (delay < 0) {
                    throw new IllegalArgumentException(at + ": 'delay_ms' must not be negative");
                }
                spec = new InactivityTrigger(
                        positive(Ir.integer(trigger, "gap_ms", at), "gap_ms", at),
                        Ir.text(trigger, "gap_text", at),
                        delay,
                        whileNode == null || whileNode.isNull() ? null : EventPattern.parse(whileNode, at + ".while"));
                break;
            }
            case "count": {
                kind = Kind.COUNT;
                List<String> groupBy = Ir.texts(trigger, "group_by", at);
                spec = new CountTrigger(
                        EventPattern.parse(trigger.get("on"), at + ".on"),
                        (int) positive(Ir.integer(trigger, "at_least", at), "at_least", at),
                        positive(Ir.integer(trigger, "within_ms", at), "within_ms", at),
                        Ir.text(trigger, "within_text", at),
                        groupBy,
                        paths(groupBy));
                break;
            }
            case "sequence": {
                kind = Kind.SEQUENCE;
                JsonNode stepsNode = Ir.required(trigger, "steps", at);
                if (!stepsNode.isArray() || stepsNode.size() < 2) {
                    throw new IllegalArgumentException(at + ": a sequence has at least 2 steps");
                }
                Step[] steps = new Step[stepsNode.size()];
                List<Integer> variableStep = new ArrayList<>();
                List<Boolean> variableFirst = new ArrayList<>();
                for (int i = 0; i < steps.length; i++) {
                    JsonNode step = stepsNode.get(i);
                    String stepAt = at + ".steps[" + i + "]";
                    Long minGap = Ir.optionalInteger(step, "min_gap_ms", stepAt);
                    int atLeast = (int) positive(Ir.integer(step, "at_least", stepAt), "at_least", stepAt);
                    steps[i] = new Step(
                            EventPattern.parse(step.get("on"), stepAt + ".on"),
                            atLeast,
                            minGap == null ? 0L : positive(minGap, "min_gap_ms", stepAt));
                    for (int j = 0; j < atLeast; j++) {
                        variableStep.add(i);
                        variableFirst.add(j == 0);
                    }
                }
                int[] stepOf = new int[variableStep.size()];
                boolean[] first = new boolean[variableStep.size()];
                for (int v = 0; v < stepOf.length; v++) {
                    stepOf[v] = variableStep.get(v);
                    first[v] = variableFirst.get(v);
                }
                spec = new SequenceTrigger(
                        steps, stepOf, first,
                        positive(Ir.integer(trigger, "within_ms", at), "within_ms", at),
                        Ir.text(trigger, "within_text", at),
                        paths(Ir.texts(trigger, "same", at)));
                break;
            }
            case "recency": {
                kind = Kind.RECENCY;
                Long more = Ir.optionalInteger(trigger, "more_than_ms", at);
                Long less = Ir.optionalInteger(trigger, "less_than_ms", at);
                if ((more == null) == (less == null)) {
                    throw new IllegalArgumentException(at + ": exactly one of more_than_ms and less_than_ms");
                }
                List<String> since = Ir.texts(trigger, "since_types", at);
                if (since.isEmpty()) {
                    throw new IllegalArgumentException(at + ": 'since_types' must not be empty");
                }
                spec = new RecencyTrigger(
                        EventPattern.parse(trigger.get("on"), at + ".on"),
                        since,
                        more != null,
                        positive(more != null ? more : less, more != null ? "more_than_ms" : "less_than_ms", at),
                        Ir.text(trigger, "bound_text", at));
                break;
            }
            case "trend": {
                kind = Kind.TREND;
                long window = Ir.integer(trigger, "window_ms", at);
                if (window <= 1) {
                    throw new IllegalArgumentException(at + ": 'window_ms' must be greater than 1");
                }
                spec = new TrendTrigger(
                        EventPattern.parse(trigger.get("on"), at + ".on"),
                        window,
                        (int) positive(Ir.integer(trigger, "min_recent", at), "min_recent", at));
                break;
            }
            default:
                throw new IllegalArgumentException(at + ": unknown trigger kind '" + kindText + "'");
        }
        JsonNode output = Ir.required(node, "output", where);
        List<String> channels = Ir.texts(output, "channels", where + ".output");
        JsonNode payload = Ir.required(output, "payload", where + ".output");
        if (!payload.isObject()) {
            throw new IllegalArgumentException(where + ".output: 'payload' must be an object");
        }
        String[] names = new String[payload.size()];
        String[][] sources = new String[payload.size()][];
        int i = 0;
        for (Map.Entry<String, JsonNode> entry : payload.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new IllegalArgumentException(where + ".output.payload: sources are field names");
            }
            names[i] = entry.getKey();
            sources[i] = path(entry.getValue().textValue());
            i++;
        }
        int priority = (int) Ir.integer(node, "priority", where);
        return new Rule(
                id, version, id + "@" + version, enabled, priority, kind, reads, spec,
                Cond.parseOptional(node.get("conditions"), where + ".conditions"),
                Ir.text(output, "action", where + ".output"),
                channels, names, sources);
    }

    private static long positive(long value, String name, String where) {
        if (value <= 0) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be greater than 0");
        }
        return value;
    }

    @Override
    public String toString() {
        return key + " (" + kind.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }
}
