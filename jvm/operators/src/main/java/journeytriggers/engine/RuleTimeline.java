package journeytriggers.engine;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * The rules in force at each event time: the job's rule files from the start, then the accepted
 * changes of the rules control topic, each from its effective time. The semantics are
 * journey_triggers/semantics/rule_changes.py's (the reference); in short:
 *
 * <ul>
 *   <li>a change is checked against the changes accepted before it, in arrival order: a
 *       {@code put} must raise the rule's version above every version of that id seen so far (the
 *       same version with the same rule is a no-op); {@code disable}, {@code enable} and
 *       {@code remove} need a known id;
 *   <li>at time t, the accepted changes with an effective time at or before t apply, in
 *       (effective time, arrival) order;
 *   <li>a rule that a change puts or enables at time E is active from E with fresh state (its
 *       state key "id@version@E"); an unchanged rule keeps its key, and so its state, across
 *       every change to other rules; a rule that leaves the set never fires again, and its
 *       pending state goes at its next deadline.
 * </ul>
 */
public final class RuleTimeline {

    /** The operations of a change. */
    public enum Op { PUT, DISABLE, ENABLE, REMOVE }

    /**
     * One accepted change (the JSON the job's control parser writes:
     * {"op", "rule_id", "effective_ms", "rule": IR or null}).
     */
    public record Change(long seq, Op op, String ruleId, long effectiveMs, Rule rule, JsonNode ruleIr) {

        /** Parses a change; a malformed one is an IllegalArgumentException. */
        public static Change parse(long seq, String json) {
            JsonNode node = Json.parse(json);
            if (!node.isObject()) {
                throw new IllegalArgumentException("a rule change is a JSON object");
            }
            Op op;
            try {
                op = Op.valueOf(Ir.text(node, "op", "rule change").toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("rule change: unknown op " + node.get("op"), e);
            }
            String id = Ir.text(node, "rule_id", "rule change");
            long effective = Ir.integer(node, "effective_ms", "rule change");
            JsonNode ir = node.get("rule");
            Rule rule = null;
            if (op == Op.PUT) {
                rule = Rule.parse(ir, RuleSet.IR_VERSION);
                if (!rule.id.equals(id)) {
                    throw new IllegalArgumentException("rule change: rule_id '" + id + "' is not the rule's id");
                }
            }
            return new Change(seq, op, id, effective, rule, op == Op.PUT ? ir : null);
        }
    }

    /** What {@link #check} says of a change. */
    public record Verdict(boolean accepted, String reason) {
        static final Verdict ACCEPT = new Verdict(true, null);
        static final Verdict NO_OP = new Verdict(false, null);

        static Verdict reject(String reason) {
            return new Verdict(false, reason);
        }

        /** Neither accepted nor rejected: it changes nothing (the same rule put again). */
        public boolean noOp() {
            return !accepted && reason == null;
        }
    }

    /** Rejection reasons (dead letters), as semantics/rule_changes.py names them. */
    public static final String STALE_VERSION = "stale_rule_version";
    public static final String UNKNOWN_RULE = "unknown_rule";

    private final List<Rule> base;
    private final Map<String, JsonNode> baseIr;
    private final List<Change> changes = new ArrayList<>();
    /** Per rule id: the highest version seen, its IR, and whether the id is known now. */
    private final Map<String, Integer> versions = new HashMap<>();
    private final Map<String, JsonNode> latestIr = new HashMap<>();
    private final Map<String, Boolean> known = new HashMap<>();
    private NavigableMap<Long, RuleSet> segments;

    /** The timeline of a rule set's IR document (the job's rule files), with no change yet. */
    public RuleTimeline(String rulesJson, boolean deferScore) {
        JsonNode document = Json.parse(rulesJson);
        RuleSet.parse(rulesJson, deferScore); // the document's own checks
        this.base = new ArrayList<>();
        this.baseIr = new LinkedHashMap<>();
        for (JsonNode node : document.get("rules")) {
            Rule rule = Rule.parse(node, RuleSet.IR_VERSION);
            base.add(deferScore ? rule.deferringScore() : rule);
            baseIr.put(rule.id, node);
            versions.put(rule.id, rule.version);
            latestIr.put(rule.id, node);
            known.put(rule.id, true);
        }
    }

    /** Checks a change against the changes accepted so far (arrival order); see the class comment. */
    public Verdict check(Change change) {
        Boolean isKnown = known.get(change.ruleId());
        if (change.op() != Op.PUT) {
            return Boolean.TRUE.equals(isKnown)
                    ? Verdict.ACCEPT
                    : Verdict.reject(UNKNOWN_RULE + ": no rule '" + change.ruleId() + "' to "
                            + change.op().name().toLowerCase(java.util.Locale.ROOT));
        }
        Integer seen = versions.get(change.ruleId());
        int version = change.rule().version;
        if (seen == null || version > seen) {
            return Verdict.ACCEPT;
        }
        if (version == seen && Boolean.TRUE.equals(isKnown) && change.ruleIr().equals(latestIr.get(change.ruleId()))) {
            return Verdict.NO_OP;
        }
        return Verdict.reject(STALE_VERSION + ": rule '" + change.ruleId() + "' version " + version
                + " is not above version " + seen + "; a changed rule needs a new version");
    }

    /** Adds an accepted change (arrival order: {@code seq} increases). */
    public void add(Change change) {
        changes.add(change);
        if (change.op() == Op.PUT) {
            versions.merge(change.ruleId(), change.rule().version, Math::max);
            latestIr.put(change.ruleId(), change.ruleIr());
            known.put(change.ruleId(), true);
        } else if (change.op() == Op.REMOVE) {
            known.put(change.ruleId(), false);
        }
        segments = null;
    }

    /** The number of accepted changes. */
    public int size() {
        return changes.size();
    }

    /** The rules in force at {@code time}. */
    public RuleSet at(long time) {
        if (segments == null) {
            segments = build();
        }
        return segments.floorEntry(time).getValue();
    }

    /** The latest effective time of the changes (Long.MIN_VALUE with none). */
    public long lastEffective() {
        if (segments == null) {
            segments = build();
        }
        return segments.lastKey();
    }

    private NavigableMap<Long, RuleSet> build() {
        List<Change> ordered = new ArrayList<>(changes);
        ordered.sort(Comparator.comparingLong(Change::effectiveMs).thenComparingLong(Change::seq));
        Map<String, Rule> rules = new LinkedHashMap<>();
        Map<String, Boolean> enabled = new HashMap<>();
        for (Rule rule : base) {
            rules.put(rule.id, rule);
            enabled.put(rule.id, rule.enabled);
        }
        NavigableMap<Long, RuleSet> out = new TreeMap<>();
        out.put(Long.MIN_VALUE, active(rules, enabled));
        int i = 0;
        while (i < ordered.size()) {
            long time = ordered.get(i).effectiveMs();
            for (; i < ordered.size() && ordered.get(i).effectiveMs() == time; i++) {
                Change change = ordered.get(i);
                String id = change.ruleId();
                Rule current = rules.get(id);
                switch (change.op()) {
                    case PUT -> {
                        rules.put(id, change.rule().activatedAt(time));
                        enabled.put(id, change.rule().enabled);
                    }
                    case DISABLE -> enabled.put(id, false);
                    case ENABLE -> {
                        if (current != null && !Boolean.TRUE.equals(enabled.get(id))) {
                            rules.put(id, current.activatedAt(time));
                            enabled.put(id, true);
                        }
                    }
                    case REMOVE -> {
                        rules.remove(id);
                        enabled.remove(id);
                    }
                }
            }
            out.put(time, active(rules, enabled));
        }
        return out;
    }

    private static RuleSet active(Map<String, Rule> rules, Map<String, Boolean> enabled) {
        List<Rule> on = new ArrayList<>();
        rules.forEach((id, rule) -> {
            if (Boolean.TRUE.equals(enabled.get(id))) {
                on.add(rule);
            }
        });
        return RuleSet.of(on);
    }
}
