package journeytriggers.engine;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** The binary format of an {@link EngineEvent} (the record as its text, parsed on use). */
public final class EngineEventSerializer extends EngineSerializer<EngineEvent> {

    private static final long serialVersionUID = 1L;
    private static final int FORMAT = 2;

    public static final EngineEventSerializer INSTANCE = new EngineEventSerializer();

    @Override
    public boolean isImmutableType() {
        return true; // never changed after construction (the parsed record is a cache)
    }

    @Override
    public EngineEvent copy(EngineEvent from) {
        return from;
    }

    @Override
    public EngineEvent createInstance() {
        return new EngineEvent("", "", 0L, "", "", "{}", null, null, null, null);
    }

    @Override
    public void serialize(EngineEvent event, DataOutputView target) throws IOException {
        target.writeByte(FORMAT);
        writeString(event.customerKey(), target);
        writeString(event.customerId(), target);
        target.writeLong(event.tsMs());
        writeString(event.eventId(), target);
        writeString(event.eventType(), target);
        writeString(event.raw(), target);
        target.writeBoolean(event.sessionStartMs() != null);
        if (event.sessionStartMs() != null) {
            target.writeLong(event.sessionStartMs());
        }
        writeString(event.profileText(), target);
        target.writeBoolean(event.score() != null);
        if (event.score() != null) {
            target.writeDouble(event.score());
        }
        writeString(event.extras(), target);
    }

    @Override
    public EngineEvent deserialize(DataInputView source) throws IOException {
        checkVersion(source.readByte(), FORMAT, "engine event");
        String customerKey = readString(source);
        String customerId = readString(source);
        long ts = source.readLong();
        String eventId = readString(source);
        String eventType = readString(source);
        String raw = readString(source);
        Long sessionStart = source.readBoolean() ? source.readLong() : null;
        String profile = readString(source);
        Double score = source.readBoolean() ? source.readDouble() : null;
        String extras = readString(source);
        return new EngineEvent(
                customerKey, customerId, ts, eventId, eventType, raw, sessionStart, profile, score, extras);
    }

    @Override
    public TypeSerializerSnapshot<EngineEvent> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot (stateless: restores the singleton). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<EngineEvent> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
