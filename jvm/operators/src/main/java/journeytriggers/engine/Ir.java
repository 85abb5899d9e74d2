package journeytriggers.engine;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/** Strict readers of rule IR fields; errors name where in the IR the field is. */
final class Ir {

    private Ir() {}

    static JsonNode required(JsonNode node, String name, String where) {
        JsonNode value = node == null ? null : node.get(name);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException(where + ": '" + name + "' is required");
        }
        return value;
    }

    static String text(JsonNode node, String name, String where) {
        JsonNode value = required(node, name, where);
        if (!value.isTextual()) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be a string");
        }
        return value.textValue();
    }

    static long integer(JsonNode node, String name, String where) {
        JsonNode value = required(node, name, where);
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be an integer");
        }
        return value.longValue();
    }

    static Long optionalInteger(JsonNode node, String name, String where) {
        JsonNode value = node.get(name);
        return value == null || value.isNull() ? null : integer(node, name, where);
    }

    static double number(JsonNode node, String name, String where) {
        JsonNode value = required(node, name, where);
        if (!value.isNumber()) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be a number");
        }
        return value.doubleValue();
    }

    static boolean bool(JsonNode node, String name, String where) {
        JsonNode value = required(node, name, where);
        if (!value.isBoolean()) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be true or false");
        }
        return value.booleanValue();
    }

    static List<String> texts(JsonNode node, String name, String where) {
        JsonNode value = required(node, name, where);
        if (!value.isArray()) {
            throw new IllegalArgumentException(where + ": '" + name + "' must be a list of strings");
        }
        List<String> texts = new ArrayList<>(value.size());
        for (JsonNode item : value) {
            if (!item.isTextual()) {
                throw new IllegalArgumentException(where + ": '" + name + "' must be a list of strings");
            }
            texts.add(item.textValue());
        }
        return List.copyOf(texts);
    }

    static List<String> optionalTexts(JsonNode node, String name, String where) {
        JsonNode value = node.get(name);
        return value == null || value.isNull() ? null : texts(node, name, where);
    }
}
