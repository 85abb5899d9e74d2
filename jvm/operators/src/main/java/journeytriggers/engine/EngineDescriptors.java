package journeytriggers.engine;

import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.ListSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.common.typeutils.base.StringSerializer;

/**
 * Every keyed state of {@link RuleEngineFunction} (keyed by customer_key), in one place. The
 * names and serializers are part of the savepoint format: change them only with a migration.
 *
 * <ul>
 *   <li>{@link #BUFFER}: events not yet passed by the watermark, by event time;
 *   <li>{@link #RULE_STATE}: per rule (key "rule_id@version"), the rule's compact state;
 *   <li>{@link #AGENDA}: per rule state, its next wake-up (the deadline timers).
 * </ul>
 */
public final class EngineDescriptors {

    private EngineDescriptors() {}

    public static final String BUFFER = "engine-buffer";
    public static final String RULE_STATE = "engine-rule-state";
    public static final String AGENDA = "engine-agenda";

    public static MapStateDescriptor<Long, List<EngineEvent>> buffer() {
        return new MapStateDescriptor<>(
                BUFFER, LongSerializer.INSTANCE, new ListSerializer<>(EngineEventSerializer.INSTANCE));
    }

    public static MapStateDescriptor<String, RuleState> ruleState() {
        return new MapStateDescriptor<>(RULE_STATE, StringSerializer.INSTANCE, RuleStateSerializer.INSTANCE);
    }

    public static ValueStateDescriptor<Agenda> agenda() {
        return new ValueStateDescriptor<>(AGENDA, AgendaSerializer.INSTANCE);
    }

    /**
     * Returns {@code descriptor}, its entries dropped {@code ttlMs} of processing time after
     * their last write (0: kept): the job's state TTL. Expired entries are never read, and full
     * snapshots leave them out, so an erased customer's old state leaves the checkpoints.
     */
    public static <D extends StateDescriptor<?, ?>> D withTtl(D descriptor, long ttlMs) {
        if (ttlMs > 0) {
            descriptor.enableTimeToLive(StateTtlConfig.newBuilder(Duration.ofMillis(ttlMs))
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .cleanupFullSnapshot()
                    .build());
        }
        return descriptor;
    }
}
