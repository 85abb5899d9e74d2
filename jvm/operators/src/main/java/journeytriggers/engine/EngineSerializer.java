package journeytriggers.engine;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * A stateless serializer of one of the engine's types, with an explicit, versioned binary
 * format (no Kryo, no reflection). {@code copy} is a round trip through the format, so that
 * copies share nothing mutable.
 */
abstract class EngineSerializer<T> extends TypeSerializerSingleton<T> {

    private static final long serialVersionUID = 1L;

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public T copy(T from) {
        if (from == null) {
            return null;
        }
        try {
            DataOutputSerializer bytes = new DataOutputSerializer(128);
            serialize(from, bytes);
            return deserialize(new DataInputDeserializer(bytes.getSharedBuffer(), 0, bytes.length()));
        } catch (IOException e) {
            throw new IllegalStateException("cannot copy " + from, e);
        }
    }

    @Override
    public T copy(T from, T reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public T deserialize(T reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    static void writeString(String text, DataOutputView target) throws IOException {
        StringValue.writeString(text, target); // null allowed
    }

    static String readString(DataInputView source) throws IOException {
        return StringValue.readString(source);
    }

    static void writeStrings(String[] texts, DataOutputView target) throws IOException {
        if (texts == null) {
            target.writeInt(-1);
            return;
        }
        target.writeInt(texts.length);
        for (String text : texts) {
            writeString(text, target);
        }
    }

    static String[] readStrings(DataInputView source) throws IOException {
        int length = source.readInt();
        if (length < 0) {
            return null;
        }
        String[] texts = new String[length];
        for (int i = 0; i < length; i++) {
            texts[i] = readString(source);
        }
        return texts;
    }

    static void checkVersion(int version, int expected, String what) throws IOException {
        if (version != expected) {
            throw new IOException(what + ": unknown format version " + version);
        }
    }
}
