package journeytriggers.engine;

import java.util.List;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/** Events of the listed types for which {@code where} holds ({@code evaluator.matches}). */
public final class EventPattern {

    final List<String> types;
    final Cond where;

    EventPattern(List<String> types, Cond where) {
        this.types = types;
        this.where = where;
    }

    static EventPattern parse(JsonNode node, String where) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(where + ": a pattern is a JSON object");
        }
        List<String> types = Ir.texts(node, "types", where);
        if (types.isEmpty()) {
            throw new IllegalArgumentException(where + ": 'types' must not be empty");
        }
        return new EventPattern(types, Cond.parseOptional(node.get("where"), where + ".where"));
    }

    /** Whether the event has one of the types (the cheap half of {@link #matches}). */
    boolean hasType(EngineEvent event) {
        return types.contains(event.eventType());
    }

    boolean matches(EngineEvent event) {
        return hasType(event) && Cond.holds(where, event);
    }

    /** The types joined with " or ", as summaries write them. */
    String typesText() {
        return String.join(" or ", types);
    }
}
