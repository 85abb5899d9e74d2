package journeytriggers;

import org.apache.flink.table.data.StringData;

/** Text keys of rows that come from the SQL. */
public final class Keys {

    private Keys() {}

    /**
     * Return {@code text} as it reads after a round trip through Flink's UTF-8 strings.
     *
     * <p>Rows from the SQL travel as UTF-8 ({@code BinaryStringData}), where a lone surrogate
     * (JSON's {@code "\ud800"}) becomes another character. Hashing the text as it was before
     * that would send the row to one subtask and key it as another there (Flink: "Key group
     * ... is not in KeyGroupRange"), so a key is the text after the same round trip.
     */
    public static String asSent(String text) {
        if (text == null) {
            return null;
        }
        for (int i = 0; i < text.length(); i++) {
            if (Character.isSurrogate(text.charAt(i))) {
                return StringData.fromBytes(StringData.fromString(text).toBytes()).toString();
            }
        }
        return text;
    }
}
