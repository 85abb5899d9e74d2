package journeytriggers;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.memory.ByteArrayOutputStreamWithPos;
import org.apache.flink.core.memory.DataOutputViewStreamWrapper;
import org.apache.flink.python.PythonFunctionRunner;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunction;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunctionInfo;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.api.operators.python.process.timer.TimerRegistration;
import org.apache.flink.streaming.api.operators.python.process.timer.TimerRegistrationAction;
import org.apache.flink.streaming.api.operators.python.process.timer.TimerUtils;
import org.apache.flink.streaming.api.utils.PythonTypeUtils;
import org.apache.flink.table.functions.python.PythonEnv;
import org.apache.flink.types.Row;

/**
 * A {@link PythonFunctionRunner} without a Python worker, holding the timers that the Python
 * function registered and the JVM has not yet, as PyFlink 2.0's {@code BeamPythonFunctionRunner}
 * holds them.
 *
 * <p>There a timer from the Python worker arrives on a gRPC thread: the runner adds a {@link
 * TimerRegistrationAction} (PyFlink's {@link TimerRegistration} and the serialized timer data) to
 * its list of unregistered timers and posts a mail that registers it; {@code
 * drainUnregisteredTimers()} registers all of the list at once. {@link #timerFromPython} is that
 * arrival without the mail: the state of a checkpoint barrier, which runs before the mail.
 *
 * <p>The operators under test take no elements through it: finishing a bundle with elements
 * needs PyFlink's Beam runner (the operators cast to it), and so a Python worker.
 */
final class PendingTimersRunner implements PythonFunctionRunner {

    /** {@code TimerRegistration.TimerOperandType.REGISTER_EVENT_TIMER}. */
    private static final byte REGISTER_EVENT_TIMER = 0;

    private final TimerRegistration registration;
    private final TypeSerializer<Row> timerDataSerializer;
    private final List<TimerRegistrationAction> unregisteredTimers = new ArrayList<>();

    PendingTimersRunner(TimerRegistration registration, TypeSerializer<Row> timerDataSerializer) {
        this.registration = registration;
        this.timerDataSerializer = timerDataSerializer;
    }

    /**
     * The runner of {@code operator}, a PyFlink keyed operator (process mode) being opened: its
     * timer registration is the one PyFlink's {@code createPythonFunctionRunner()} builds, on the
     * operator's {@code user-timers} timer service, its keyed state backend and its key.
     */
    // PyFlink's keyed process operator is a Triggerable<Row, Object> whose timer service has a raw
    // namespace type (VoidNamespace in fact); TimerRegistration takes the service raw as well.
    @SuppressWarnings({"unchecked", "rawtypes"})
    static PendingTimersRunner of(
            AbstractStreamOperator<?> operator,
            Triggerable<Row, ?> triggerable,
            TypeInformation<Row> keyType)
            throws Exception {
        InternalTimerService timers =
                operator.getInternalTimerService(
                        "user-timers",
                        (TypeSerializer) VoidNamespaceSerializer.INSTANCE,
                        (Triggerable) triggerable);
        TypeSerializer<Row> timerData = timerDataSerializer(keyType);
        return new PendingTimersRunner(
                new TimerRegistration(
                        operator.getKeyedStateBackend(),
                        timers,
                        operator,
                        VoidNamespaceSerializer.INSTANCE,
                        timerData),
                timerData);
    }

    /** The serializer of the timer data that the operators exchange with Python. */
    static TypeSerializer<Row> timerDataSerializer(TypeInformation<Row> keyType) {
        return PythonTypeUtils.TypeInfoToSerializerConverter.typeInfoSerializerConverter(
                TimerUtils.createTimerDataTypeInfo(keyType));
    }

    /** The state key of a PyFlink keyed operator whose input rows are (key, value). */
    static RowTypeInfo keyType(RowTypeInfo inputType) {
        return new RowTypeInfo(inputType.getTypeAt(0));
    }

    /** A function info as PyFlink builds it, for a function that no worker will run. */
    static DataStreamPythonFunctionInfo functionInfo(int functionType) {
        return new DataStreamPythonFunctionInfo(
                new DataStreamPythonFunction(new byte[0], new PythonEnv(PythonEnv.ExecType.PROCESS)),
                functionType);
    }

    static Configuration config() {
        Configuration config = new Configuration();
        config.setString("test.marker", "journey-triggers");
        return config;
    }

    /** Python registered an event-time timer for {@code key}; the JVM has not registered it yet. */
    void timerFromPython(Row key, long timestamp) throws Exception {
        ByteArrayOutputStreamWithPos bytes = new ByteArrayOutputStreamWithPos();
        timerDataSerializer.serialize(
                Row.of(REGISTER_EVENT_TIMER, null, timestamp, key, null),
                new DataOutputViewStreamWrapper(bytes));
        synchronized (unregisteredTimers) {
            unregisteredTimers.add(
                    new TimerRegistrationAction(
                            registration, bytes.toByteArray(), unregisteredTimers));
        }
    }

    int pendingTimers() {
        synchronized (unregisteredTimers) {
            return unregisteredTimers.size();
        }
    }

    @Override
    public void drainUnregisteredTimers() {
        synchronized (unregisteredTimers) {
            for (TimerRegistrationAction action : unregisteredTimers) {
                action.registerTimer();
            }
            unregisteredTimers.clear();
        }
    }

    @Override
    public void open(ReadableConfig config) {}

    @Override
    public void close() {}

    @Override
    public void process(byte[] data) {
        throw new UnsupportedOperationException("no Python worker");
    }

    @Override
    public void processTimer(byte[] timerData) {
        throw new UnsupportedOperationException("no Python worker");
    }

    @Override
    public Tuple3<String, byte[], Integer> pollResult() {
        return null;
    }

    @Override
    public Tuple3<String, byte[], Integer> takeResult() {
        throw new UnsupportedOperationException("no Python worker");
    }

    @Override
    public void flush() {}
}
