package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.reflect.Method;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.fnexecution.v1.FlinkFnApi.UserDefinedDataStreamFunction.FunctionType;
import org.apache.flink.python.PythonFunctionRunner;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunctionInfo;
import org.apache.flink.streaming.api.operators.python.process.AbstractExternalDataStreamPythonFunctionOperator;
import org.apache.flink.streaming.api.operators.python.process.AbstractExternalTwoInputPythonFunctionOperator;
import org.apache.flink.streaming.api.operators.python.process.ExternalPythonKeyedCoProcessOperator;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * As {@link CheckpointedTimersKeyedProcessOperatorTest}, for the keyed broadcast operator: the
 * keyed input first, keyed by its first field; the broadcast input second, unkeyed (as {@code
 * connect} builds the transformation).
 */
class CheckpointedTimersKeyedCoProcessOperatorTest {

    private static final RowTypeInfo KEYED = new RowTypeInfo(Types.STRING, Types.STRING);
    private static final RowTypeInfo BROADCAST = new RowTypeInfo(Types.STRING);

    private static final RowTypeInfo KEY = PendingTimersRunner.keyType(KEYED);
    private static final KeySelector<Row, Row> BY_KEY = row -> Row.of(row.getField(0));

    private static final class WithoutPythonWorker
            extends CheckpointedTimersKeyedCoProcessOperator<String> {
        private static final long serialVersionUID = 1L;
        transient PendingTimersRunner runner;

        WithoutPythonWorker() {
            super(
                    PendingTimersRunner.config(),
                    PendingTimersRunner.functionInfo(
                            FunctionType.KEYED_CO_BROADCAST_PROCESS.getNumber()),
                    KEYED,
                    BROADCAST,
                    Types.STRING);
        }

        @Override
        public PythonFunctionRunner createPythonFunctionRunner() throws Exception {
            runner = PendingTimersRunner.of(this, this, KEY);
            return runner;
        }
    }

    private static final class PyFlinksWithoutPythonWorker
            extends ExternalPythonKeyedCoProcessOperator<String> {
        private static final long serialVersionUID = 1L;
        transient PendingTimersRunner runner;

        PyFlinksWithoutPythonWorker() {
            super(
                    PendingTimersRunner.config(),
                    PendingTimersRunner.functionInfo(
                            FunctionType.KEYED_CO_BROADCAST_PROCESS.getNumber()),
                    KEYED,
                    BROADCAST,
                    Types.STRING);
        }

        @Override
        public PythonFunctionRunner createPythonFunctionRunner() throws Exception {
            runner = PendingTimersRunner.of(this, this, KEY);
            return runner;
        }
    }

    private static KeyedTwoInputStreamOperatorTestHarness<Row, Row, Row, String> harness(
            ExternalPythonKeyedCoProcessOperator<String> operator) throws Exception {
        return new KeyedTwoInputStreamOperatorTestHarness<>(operator, BY_KEY, null, KEY);
    }

    @Test
    void registersTheTimersPythonSetBeforeTheCheckpointBarrier() throws Exception {
        WithoutPythonWorker operator = new WithoutPythonWorker();
        try (KeyedTwoInputStreamOperatorTestHarness<Row, Row, Row, String> harness =
                harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);
            assertEquals(0, harness.numEventTimeTimers());

            harness.prepareSnapshotPreBarrier(1L);

            assertEquals(1, harness.numEventTimeTimers());
            assertEquals(0, operator.runner.pendingTimers());
        }
    }

    @Test
    void pyFlinksOwnOperatorLeavesThemUnregisteredAtTheBarrier() throws Exception {
        PyFlinksWithoutPythonWorker operator = new PyFlinksWithoutPythonWorker();
        try (KeyedTwoInputStreamOperatorTestHarness<Row, Row, Row, String> harness =
                harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);

            harness.prepareSnapshotPreBarrier(1L);

            assertEquals(0, harness.numEventTimeTimers());
            assertEquals(1, operator.runner.pendingTimers());
        }
    }

    @Test
    void aJobRestoredFromTheCheckpointHasTheTimers() throws Exception {
        OperatorSubtaskState checkpoint;
        WithoutPythonWorker operator = new WithoutPythonWorker();
        try (KeyedTwoInputStreamOperatorTestHarness<Row, Row, Row, String> harness =
                harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);
            // As the task does: prepareSnapshotPreBarrier, the barrier, then the snapshot.
            harness.prepareSnapshotPreBarrier(1L);
            checkpoint = harness.snapshot(1L, 1L);
        }

        try (KeyedTwoInputStreamOperatorTestHarness<Row, Row, Row, String> restored =
                harness(new WithoutPythonWorker())) {
            restored.initializeState(checkpoint);
            restored.open();

            assertEquals(1, restored.numEventTimeTimers());
        }
    }

    /** The input types of a two-input PyFlink operator: protected getters, read by reflection. */
    private static TypeInformation<?> inputType(Object operator, String getter) throws Exception {
        Method method = AbstractExternalTwoInputPythonFunctionOperator.class.getDeclaredMethod(getter);
        method.setAccessible(true);
        return (TypeInformation<?>) method.invoke(operator);
    }

    @Test
    void copyForChainingIsThisOperatorWithTheSameConfigurationAndInputs() throws Exception {
        Configuration config = PendingTimersRunner.config();
        CheckpointedTimersKeyedCoProcessOperator<String> operator =
                new CheckpointedTimersKeyedCoProcessOperator<>(
                        config,
                        PendingTimersRunner.functionInfo(
                                FunctionType.KEYED_CO_BROADCAST_PROCESS.getNumber()),
                        KEYED,
                        BROADCAST,
                        Types.STRING);
        DataStreamPythonFunctionInfo chained =
                PendingTimersRunner.functionInfo(FunctionType.PROCESS.getNumber());

        AbstractExternalDataStreamPythonFunctionOperator<Long> copy =
                operator.copy(chained, Types.LONG);

        assertSame(CheckpointedTimersKeyedCoProcessOperator.class, copy.getClass());
        assertSame(config, copy.getConfiguration());
        assertEquals(KEYED, inputType(copy, "getLeftInputType"));
        assertEquals(BROADCAST, inputType(copy, "getRightInputType"));
        assertSame(chained, copy.getPythonFunctionInfo());
        assertEquals(Types.LONG, copy.getProducedType());
    }
}
