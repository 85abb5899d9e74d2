package journeytriggers.engine;

import java.util.regex.Pattern;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * JSON as Python's {@code json} module reads it (Flink's shaded Jackson), and the reference's
 * field reads: {@code conditions.field_value}, {@code as_number} and {@code list_contains}.
 */
public final class Json {

    private Json() {}

    /** Numbers keep integer vs float as Python does; NaN and Infinity are read as Python reads them. */
    public static final ObjectMapper MAPPER =
            JsonMapper.builder(
                            JsonFactory.builder()
                                    .streamReadConstraints(
                                            StreamReadConstraints.builder()
                                                    .maxStringLength(Integer.MAX_VALUE)
                                                    .maxNumberLength(Integer.MAX_VALUE)
                                                    .build())
                                    .build())
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .build();

    /** Parses a JSON text; an {@link IllegalArgumentException} says why it is not JSON. */
    public static JsonNode parse(String text) {
        try {
            JsonNode node = MAPPER.readTree(text);
            if (node == null || node.isMissingNode()) {
                throw new IllegalArgumentException("empty JSON text");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Returns the node at {@code path} under {@code root} (objects only), or null. */
    public static JsonNode walk(JsonNode root, String[] path) {
        JsonNode value = root;
        for (String part : path) {
            if (value == null || !value.isObject()) {
                return null;
            }
            value = value.get(part);
        }
        return value;
    }

    /** {@code field_value}: the JSON scalar (string, number, boolean) at {@code path}, or null. */
    public static JsonNode scalar(JsonNode root, String[] path) {
        JsonNode value = walk(root, path);
        if (value == null || !(value.isTextual() || value.isNumber() || value.isBoolean())) {
            return null;
        }
        return value;
    }

    /** The reference's NUMBER pattern; Python's {@code $} also matches before a final newline. */
    private static final Pattern NUMBER =
            Pattern.compile("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?\n?");

    /** {@code as_number}: a JSON number, or a string written as one, if finite; else NaN. */
    public static double asNumber(JsonNode value) {
        if (value == null || value.isBoolean()) {
            return Double.NaN;
        }
        double number;
        if (value.isNumber()) {
            number = value.isIntegralNumber() && !value.canConvertToLong()
                    ? value.bigIntegerValue().doubleValue()
                    : value.doubleValue();
        } else if (value.isTextual() && NUMBER.matcher(value.textValue()).matches()) {
            number = Double.parseDouble(value.textValue());
        } else {
            return Double.NaN;
        }
        return Double.isFinite(number) ? number : Double.NaN;
    }

    /** {@code _element_text}: a list element's text, null for null or nested values. */
    public static String elementText(JsonNode item) {
        return PyText.payloadText(item);
    }
}
