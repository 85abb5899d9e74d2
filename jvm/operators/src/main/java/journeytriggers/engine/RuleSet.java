package journeytriggers.engine;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * A rule set's IR ({"ir_version": 1, "rules": [...]}), compiled, with the enabled rules indexed
 * by the event types they read, so that an event costs only the rules that can use it.
 */
public final class RuleSet {

    /** The IR version this engine reads (journey_triggers/rules/ir.py IR_VERSION). */
    public static final int IR_VERSION = 1;

    private final String json;
    private final Rule[] rules;
    private final Map<String, Rule> byKey;
    private final Map<String, int[]> byType;
    private final int[] everyEvent;

    private RuleSet(String json, List<Rule> rules) {
        this.json = json;
        this.rules = rules.toArray(new Rule[0]);
        Map<String, Rule> keys = new LinkedHashMap<>();
        Map<String, List<Integer>> types = new HashMap<>();
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < this.rules.length; i++) {
            Rule rule = this.rules[i];
            keys.put(rule.key, rule);
            if (rule.reads == null) {
                all.add(i);
            } else {
                for (String type : new HashSet<>(rule.reads)) {
                    types.computeIfAbsent(type, t -> new ArrayList<>()).add(i);
                }
            }
        }
        this.byKey = Collections.unmodifiableMap(keys);
        Map<String, int[]> index = new HashMap<>();
        types.forEach((type, list) -> index.put(type, toArray(list)));
        this.byType = index;
        this.everyEvent = toArray(all);
    }

    private static int[] toArray(List<Integer> list) {
        int[] array = new int[list.size()];
        for (int i = 0; i < array.length; i++) {
            array[i] = list.get(i);
        }
        return array;
    }

    /** Compiles an IR document; an unknown ir_version or a malformed rule is an error. */
    public static RuleSet parse(String json) {
        return parse(json, false);
    }

    /**
     * As {@link #parse(String)}; with {@code deferScore}, rules whose conditions read the score
     * fire without them, for the job's scoring stage to decide (see Rule.deferringScore).
     */
    public static RuleSet parse(String json, boolean deferScore) {
        JsonNode document = Json.parse(json);
        if (!document.isObject()) {
            throw new IllegalArgumentException("a rule set IR is a JSON object");
        }
        long version = Ir.integer(document, "ir_version", "rule set");
        if (version != IR_VERSION) {
            throw new IllegalArgumentException(
                    "rule set ir_version " + version + " is not supported: this engine reads ir_version "
                            + IR_VERSION);
        }
        JsonNode list = Ir.required(document, "rules", "rule set");
        if (!list.isArray()) {
            throw new IllegalArgumentException("rule set: 'rules' must be a list");
        }
        List<Rule> rules = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (JsonNode node : list) {
            Rule rule = Rule.parse(node, IR_VERSION);
            if (!ids.add(rule.id)) {
                throw new IllegalArgumentException("rule set: duplicate rule id '" + rule.id + "'");
            }
            if (rule.enabled) {
                rules.add(deferScore ? rule.deferringScore() : rule);
            }
        }
        return new RuleSet(json, rules);
    }

    /** A rule set of compiled rules (no IR text: {@link #json()} is null), e.g. a timeline's. */
    static RuleSet of(List<Rule> rules) {
        return new RuleSet(null, rules);
    }

    /** Reads and compiles an IR file; errors name the file. */
    public static RuleSet read(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** The IR text this rule set was compiled from, or null (see {@link #of}). */
    public String json() {
        return json;
    }

    /** The enabled rules, in IR order. */
    public List<Rule> rules() {
        return List.of(rules);
    }

    /** The enabled rule with a state key (id@version), or null. */
    public Rule byKey(String key) {
        return byKey.get(key);
    }

    /** The rules that read one of the events' types (or every event), in IR order. */
    List<Rule> rulesFor(List<EngineEvent> events) {
        BitSet wanted = new BitSet(rules.length);
        for (int i : everyEvent) {
            wanted.set(i);
        }
        for (EngineEvent event : events) {
            int[] indexes = byType.get(event.eventType());
            if (indexes != null) {
                for (int i : indexes) {
                    wanted.set(i);
                }
            }
        }
        List<Rule> selected = new ArrayList<>(wanted.cardinality());
        for (int i = wanted.nextSetBit(0); i >= 0; i = wanted.nextSetBit(i + 1)) {
            selected.add(rules[i]);
        }
        return selected;
    }
}
