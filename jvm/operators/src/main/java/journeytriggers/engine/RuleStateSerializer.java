package journeytriggers.engine;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The binary format of a {@link RuleState}: a format version, the kind, then the kind's fields.
 * Group keys are written as their texts; anchors as {@link AnchorInfo}'s fields.
 */
public final class RuleStateSerializer extends EngineSerializer<RuleState> {

    private static final long serialVersionUID = 1L;
    private static final int FORMAT = 2;

    public static final RuleStateSerializer INSTANCE = new RuleStateSerializer();

    @Override
    public RuleState createInstance() {
        return new RuleState.Recency(0L);
    }

    @Override
    public void serialize(RuleState state, DataOutputView target) throws IOException {
        target.writeByte(FORMAT);
        target.writeByte(state.kind().ordinal());
        switch (state.kind()) {
            case ABSENCE: {
                RuleState.Absence absence = (RuleState.Absence) state;
                target.writeInt(absence.groups.size());
                for (Map.Entry<List<String>, List<RuleState.Pending>> group : absence.groups.entrySet()) {
                    writeKey(group.getKey(), target);
                    target.writeInt(group.getValue().size());
                    for (RuleState.Pending pending : group.getValue()) {
                        target.writeLong(pending.deadline);
                        target.writeBoolean(pending.successorSeen);
                        writeAnchor(pending.anchor, target);
                    }
                }
                break;
            }
            case INACTIVITY: {
                RuleState.Inactivity inactivity = (RuleState.Inactivity) state;
                target.writeInt(inactivity.sessions.size());
                for (RuleState.Session session : inactivity.sessions) {
                    target.writeLong(session.lastTs);
                    target.writeBoolean(session.whileMatched);
                    target.writeBoolean(session.last != null);
                    if (session.last != null) {
                        writeAnchor(session.last, target);
                    }
                }
                break;
            }
            case COUNT: {
                RuleState.Count count = (RuleState.Count) state;
                target.writeInt(count.groups.size());
                for (Map.Entry<List<String>, long[]> group : count.groups.entrySet()) {
                    writeKey(group.getKey(), target);
                    target.writeInt(group.getValue().length);
                    for (long time : group.getValue()) {
                        target.writeLong(time);
                    }
                }
                break;
            }
            case SEQUENCE: {
                RuleState.Sequence sequence = (RuleState.Sequence) state;
                target.writeInt(sequence.groups.size());
                for (Map.Entry<List<String>, List<RuleState.Partial>> group : sequence.groups.entrySet()) {
                    writeKey(group.getKey(), target);
                    target.writeInt(group.getValue().size());
                    for (RuleState.Partial partial : group.getValue()) {
                        target.writeLong(partial.firstTs);
                        writeString(partial.firstId, target);
                        writeString(partial.firstType, target);
                        target.writeInt(partial.position);
                        target.writeLong(partial.lastTs);
                    }
                }
                break;
            }
            case RECENCY:
                target.writeLong(((RuleState.Recency) state).lastTs);
                break;
            case TREND: {
                RuleState.Trend trend = (RuleState.Trend) state;
                target.writeInt(trend.times.length);
                for (int i = 0; i < trend.times.length; i++) {
                    target.writeLong(trend.times[i]);
                    target.writeInt(trend.counts[i]);
                }
                break;
            }
            default:
                throw new IOException("no state for kind " + state.kind());
        }
    }

    @Override
    public RuleState deserialize(DataInputView source) throws IOException {
        checkVersion(source.readByte(), FORMAT, "rule state");
        int kind = source.readByte();
        Rule.Kind[] kinds = Rule.Kind.values();
        if (kind < 0 || kind >= kinds.length) {
            throw new IOException("rule state: unknown kind " + kind);
        }
        switch (kinds[kind]) {
            case ABSENCE: {
                RuleState.Absence absence = new RuleState.Absence();
                for (int groups = source.readInt(); groups > 0; groups--) {
                    List<String> key = readKey(source);
                    int n = source.readInt();
                    List<RuleState.Pending> pending = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        long deadline = source.readLong();
                        boolean successorSeen = source.readBoolean();
                        pending.add(new RuleState.Pending(deadline, successorSeen, readAnchor(source)));
                    }
                    absence.groups.put(key, pending);
                }
                return absence;
            }
            case INACTIVITY: {
                RuleState.Inactivity inactivity = new RuleState.Inactivity();
                for (int n = source.readInt(); n > 0; n--) {
                    long lastTs = source.readLong();
                    boolean whileMatched = source.readBoolean();
                    AnchorInfo last = source.readBoolean() ? readAnchor(source) : null;
                    inactivity.sessions.add(new RuleState.Session(lastTs, whileMatched, last));
                }
                return inactivity;
            }
            case COUNT: {
                RuleState.Count count = new RuleState.Count();
                for (int groups = source.readInt(); groups > 0; groups--) {
                    List<String> key = readKey(source);
                    long[] times = new long[source.readInt()];
                    for (int i = 0; i < times.length; i++) {
                        times[i] = source.readLong();
                    }
                    count.groups.put(key, times);
                }
                return count;
            }
            case SEQUENCE: {
                RuleState.Sequence sequence = new RuleState.Sequence();
                for (int groups = source.readInt(); groups > 0; groups--) {
                    List<String> key = readKey(source);
                    int n = source.readInt();
                    List<RuleState.Partial> partials = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        long firstTs = source.readLong();
                        String firstId = readString(source);
                        String firstType = readString(source);
                        int position = source.readInt();
                        long lastTs = source.readLong();
                        partials.add(new RuleState.Partial(firstTs, firstId, firstType, position, lastTs));
                    }
                    sequence.groups.put(key, partials);
                }
                return sequence;
            }
            case RECENCY:
                return new RuleState.Recency(source.readLong());
            case TREND: {
                RuleState.Trend trend = new RuleState.Trend();
                int n = source.readInt();
                trend.times = new long[n];
                trend.counts = new int[n];
                for (int i = 0; i < n; i++) {
                    trend.times[i] = source.readLong();
                    trend.counts[i] = source.readInt();
                }
                return trend;
            }
            default:
                throw new IOException("rule state: no state for kind " + kinds[kind]);
        }
    }

    private static void writeKey(List<String> key, DataOutputView target) throws IOException {
        target.writeInt(key.size());
        for (String value : key) {
            writeString(value, target);
        }
    }

    private static List<String> readKey(DataInputView source) throws IOException {
        int n = source.readInt();
        String[] values = new String[n];
        for (int i = 0; i < n; i++) {
            values[i] = readString(source);
        }
        return List.of(values);
    }

    static void writeAnchor(AnchorInfo anchor, DataOutputView target) throws IOException {
        target.writeLong(anchor.tsMs);
        writeString(anchor.eventId, target);
        writeString(anchor.eventType, target);
        writeString(anchor.customerId, target);
        writeStrings(anchor.payload, target);
        writeStrings(anchor.cart, target);
        writeString(anchor.extras, target);
    }

    static AnchorInfo readAnchor(DataInputView source) throws IOException {
        long ts = source.readLong();
        String eventId = readString(source);
        String eventType = readString(source);
        String customerId = readString(source);
        String[] payload = readStrings(source);
        String[] cart = readStrings(source);
        String extras = readString(source);
        return new AnchorInfo(
                ts, eventId, eventType, customerId, payload == null ? new String[0] : payload, cart, extras);
    }

    @Override
    public TypeSerializerSnapshot<RuleState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot (stateless: restores the singleton). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<RuleState> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
