package journeytriggers.engine;

import java.io.IOException;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** Flink type information of the engine's input and output (explicit serializers, no Kryo). */
public final class EngineTypes {

    private EngineTypes() {}

    public static final TypeInformation<EngineEvent> EVENT =
            new Info<>(EngineEvent.class, EngineEventSerializer.INSTANCE);

    public static final TypeInformation<Candidate> CANDIDATE =
            new Info<>(Candidate.class, CandidateSerializer.INSTANCE);

    /** A type whose serializer is a stateless singleton. */
    private static final class Info<T> extends TypeInformation<T> {
        private static final long serialVersionUID = 1L;
        private final Class<T> type;
        private final TypeSerializer<T> serializer;

        Info(Class<T> type, TypeSerializer<T> serializer) {
            this.type = type;
            this.serializer = serializer;
        }

        @Override
        public boolean isBasicType() {
            return false;
        }

        @Override
        public boolean isTupleType() {
            return false;
        }

        @Override
        public int getArity() {
            return 1;
        }

        @Override
        public int getTotalFields() {
            return 1;
        }

        @Override
        public Class<T> getTypeClass() {
            return type;
        }

        @Override
        public boolean isKeyType() {
            return false;
        }

        @Override
        public TypeSerializer<T> createSerializer(SerializerConfig config) {
            return serializer;
        }

        @Override
        public String toString() {
            return type.getSimpleName();
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Info && ((Info<?>) other).type == type;
        }

        @Override
        public int hashCode() {
            return type.hashCode();
        }

        @Override
        public boolean canEqual(Object other) {
            return other instanceof Info;
        }
    }

    /** A candidate as its JSON text (the form it leaves the engine in). */
    public static final class CandidateSerializer extends EngineSerializer<Candidate> {
        private static final long serialVersionUID = 1L;
        private static final int FORMAT = 3;
        public static final CandidateSerializer INSTANCE = new CandidateSerializer();

        @Override
        public boolean isImmutableType() {
            return true;
        }

        @Override
        public Candidate copy(Candidate from) {
            return from;
        }

        @Override
        public Candidate createInstance() {
            return null;
        }

        @Override
        public void serialize(Candidate candidate, DataOutputView target) throws IOException {
            target.writeByte(FORMAT);
            writeString(candidate.toJson(), target);
            target.writeLong(candidate.anchorTsMs());
            writeString(candidate.extras(), target);
            target.writeInt(candidate.priority());
            target.writeLong(candidate.eventTsMs());
        }

        @Override
        public Candidate deserialize(DataInputView source) throws IOException {
            checkVersion(source.readByte(), FORMAT, "candidate");
            Candidate candidate = Candidate.fromJson(readString(source));
            long anchorTsMs = source.readLong();
            String extras = readString(source);
            int priority = source.readInt();
            return candidate.withAnchor(anchorTsMs, extras, priority, source.readLong());
        }

        @Override
        public TypeSerializerSnapshot<Candidate> snapshotConfiguration() {
            return new Snapshot();
        }

        /** The serializer's snapshot (stateless: restores the singleton). */
        public static final class Snapshot extends SimpleTypeSerializerSnapshot<Candidate> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
