package journeytriggers.engine;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** The binary format of an {@link Agenda}: (rule key, wake-up time) pairs. */
public final class AgendaSerializer extends EngineSerializer<Agenda> {

    private static final long serialVersionUID = 1L;
    private static final int FORMAT = 1;

    public static final AgendaSerializer INSTANCE = new AgendaSerializer();

    @Override
    public Agenda createInstance() {
        return new Agenda();
    }

    @Override
    public void serialize(Agenda agenda, DataOutputView target) throws IOException {
        target.writeByte(FORMAT);
        target.writeInt(agenda.wakeUps.size());
        for (Map.Entry<String, Long> entry : agenda.wakeUps.entrySet()) {
            writeString(entry.getKey(), target);
            target.writeLong(entry.getValue());
        }
    }

    @Override
    public Agenda deserialize(DataInputView source) throws IOException {
        checkVersion(source.readByte(), FORMAT, "agenda");
        int n = source.readInt();
        Map<String, Long> wakeUps = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            wakeUps.put(readString(source), source.readLong());
        }
        return new Agenda(wakeUps);
    }

    @Override
    public TypeSerializerSnapshot<Agenda> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot (stateless: restores the singleton). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<Agenda> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
