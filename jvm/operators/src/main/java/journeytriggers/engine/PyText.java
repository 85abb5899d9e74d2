package journeytriggers.engine;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * Texts exactly as the Python reference writes them: {@code repr} of floats, payload texts,
 * timestamps, durations, decision ids, and Python's string order (by code point).
 */
public final class PyText {

    private PyText() {}

    private static final DateTimeFormatter SECONDS =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.").withZone(ZoneOffset.UTC);

    /** {@code events.format_timestamp_ms}: ISO-8601 UTC with milliseconds. */
    public static String timestamp(long tsMs) {
        Instant second = Instant.ofEpochSecond(Math.floorDiv(tsMs, 1000L));
        int millis = (int) Math.floorMod(tsMs, 1000L);
        StringBuilder text = new StringBuilder(24).append(SECONDS.format(second));
        if (millis < 100) {
            text.append('0');
        }
        if (millis < 10) {
            text.append('0');
        }
        return text.append(millis).append('Z').toString();
    }

    private static final long[] UNIT_MS = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
    private static final String[] UNIT = {"d", "h", "m", "s"};

    /** {@code durations.format_duration_ms}: the largest unit that divides exactly. */
    public static String duration(long ms) {
        for (int i = 0; i < UNIT_MS.length; i++) {
            if (ms != 0 && ms % UNIT_MS[i] == 0) {
                return (ms / UNIT_MS[i]) + UNIT[i];
            }
        }
        return ms + "ms";
    }

    /** {@code decisions.decision_id}: the first 32 hex digits of SHA-256 of the id text. */
    public static String decisionId(String ruleId, int ruleVersion, String customer, String anchorId) {
        String text = ruleId + "|" + ruleVersion + "|" + customer + "|" + anchorId;
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
        char[] hex = new char[32];
        for (int i = 0; i < 16; i++) {
            hex[2 * i] = Character.forDigit((digest[i] >> 4) & 0xF, 16);
            hex[2 * i + 1] = Character.forDigit(digest[i] & 0xF, 16);
        }
        return new String(hex);
    }

    /**
     * {@code evaluator.payload_text} of a JSON scalar: strings as they are, booleans as
     * true/false, integers in decimal, floats as Python's {@code repr}; null for anything else.
     */
    public static String payloadText(JsonNode value) {
        if (value == null) {
            return null;
        }
        if (value.isTextual()) {
            return value.textValue();
        }
        if (value.isBoolean()) {
            return value.booleanValue() ? "true" : "false";
        }
        if (value.isIntegralNumber()) {
            return value.bigIntegerValue().toString();
        }
        if (value.isFloatingPointNumber()) {
            return floatRepr(value.doubleValue());
        }
        return null;
    }

    /** Python's {@code str()} of a rule operand (booleans are True/False there). */
    public static String pythonStr(JsonNode operand) {
        if (operand.isBoolean()) {
            return operand.booleanValue() ? "True" : "False";
        }
        String text = payloadText(operand);
        return text == null ? operand.toString() : text;
    }

    /** Python's {@code repr(float)}: the shortest text that reads back as the same double. */
    public static String floatRepr(double value) {
        if (Double.isNaN(value)) {
            return "nan";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "inf" : "-inf";
        }
        if (value == 0.0) {
            return (Double.doubleToRawLongBits(value) < 0) ? "-0.0" : "0.0";
        }
        double magnitude = Math.abs(value);
        BigDecimal exact = new BigDecimal(magnitude);
        BigDecimal shortest = null;
        for (int precision = 1; precision <= 17 && shortest == null; precision++) {
            BigDecimal down = exact.round(new MathContext(precision, RoundingMode.DOWN));
            BigDecimal up = exact.round(new MathContext(precision, RoundingMode.UP));
            boolean downFits = down.doubleValue() == magnitude;
            boolean upFits = up.doubleValue() == magnitude;
            if (downFits && upFits && down.compareTo(up) != 0) {
                int closer = exact.subtract(down).compareTo(up.subtract(exact));
                if (closer < 0) {
                    shortest = down;
                } else if (closer > 0) {
                    shortest = up;
                } else {
                    shortest = down.unscaledValue().testBit(0) ? up : down;
                }
            } else if (downFits) {
                shortest = down;
            } else if (upFits) {
                shortest = up;
            }
        }
        if (shortest == null) {
            shortest = exact.round(MathContext.DECIMAL64); // not reached: 17 digits always fit
        }
        shortest = shortest.stripTrailingZeros();
        String digits = shortest.unscaledValue().toString();
        int decimalPoint = digits.length() - shortest.scale(); // value = 0.digits * 10^decimalPoint
        StringBuilder text = new StringBuilder(26);
        if (value < 0) {
            text.append('-');
        }
        if (decimalPoint > -4 && decimalPoint <= 16) {
            if (decimalPoint <= 0) {
                text.append("0.");
                for (int i = decimalPoint; i < 0; i++) {
                    text.append('0');
                }
                text.append(digits);
            } else if (decimalPoint >= digits.length()) {
                text.append(digits);
                for (int i = digits.length(); i < decimalPoint; i++) {
                    text.append('0');
                }
                text.append(".0");
            } else {
                text.append(digits, 0, decimalPoint).append('.').append(digits, decimalPoint, digits.length());
            }
        } else {
            text.append(digits.charAt(0));
            if (digits.length() > 1) {
                text.append('.').append(digits, 1, digits.length());
            }
            int exponent = decimalPoint - 1;
            text.append(exponent < 0 ? "e-" : "e+");
            int magnitudeOfExponent = Math.abs(exponent);
            if (magnitudeOfExponent < 10) {
                text.append('0');
            }
            text.append(magnitudeOfExponent);
        }
        return text.toString();
    }

    /** Python's {@code str} order: by code point (Java's compareTo orders UTF-16 units). */
    public static int compare(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            char x = a.charAt(i);
            char y = b.charAt(i);
            if (x != y) {
                return fixUp(x) - fixUp(y);
            }
        }
        return a.length() - b.length();
    }

    /** Moves surrogates above U+FFFF's other units so that UTF-16 order is code point order. */
    private static int fixUp(char c) {
        if (c >= 0xD800) {
            return c >= 0xE000 ? c - 0x800 : c + 0x2000;
        }
        return c;
    }
}
