package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.fnexecution.v1.FlinkFnApi.UserDefinedDataStreamFunction.FunctionType;
import org.apache.flink.python.PythonFunctionRunner;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunctionInfo;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.python.process.AbstractExternalDataStreamPythonFunctionOperator;
import org.apache.flink.streaming.api.operators.python.process.ExternalPythonKeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * The operator's own code, {@code prepareSnapshotPreBarrier} and {@code copy}, in Flink's keyed
 * operator test harness. The operator runs as in a job except for its Python function runner,
 * which has no Python worker: {@link PendingTimersRunner} holds the timers that Python registered
 * and the JVM has not, as PyFlink's Beam runner holds them.
 */
class CheckpointedTimersKeyedProcessOperatorTest {

    /** Input rows of PyFlink's keyed process operator: (key, value). */
    private static final RowTypeInfo INPUT = new RowTypeInfo(Types.STRING, Types.STRING);

    private static final RowTypeInfo KEY = PendingTimersRunner.keyType(INPUT);
    private static final KeySelector<Row, Row> BY_KEY = row -> Row.of(row.getField(0));

    /** The operator under test, with a runner that needs no Python worker. */
    private static final class WithoutPythonWorker
            extends CheckpointedTimersKeyedProcessOperator<String> {
        private static final long serialVersionUID = 1L;
        transient PendingTimersRunner runner;

        WithoutPythonWorker() {
            super(
                    PendingTimersRunner.config(),
                    PendingTimersRunner.functionInfo(FunctionType.KEYED_PROCESS.getNumber()),
                    INPUT,
                    Types.STRING);
        }

        @Override
        public PythonFunctionRunner createPythonFunctionRunner() throws Exception {
            runner = PendingTimersRunner.of(this, this, KEY);
            return runner;
        }
    }

    /** PyFlink's own operator, with the same runner: what the job had before. */
    private static final class PyFlinksWithoutPythonWorker
            extends ExternalPythonKeyedProcessOperator<String> {
        private static final long serialVersionUID = 1L;
        transient PendingTimersRunner runner;

        PyFlinksWithoutPythonWorker() {
            super(
                    PendingTimersRunner.config(),
                    PendingTimersRunner.functionInfo(FunctionType.KEYED_PROCESS.getNumber()),
                    INPUT,
                    Types.STRING);
        }

        @Override
        public PythonFunctionRunner createPythonFunctionRunner() throws Exception {
            runner = PendingTimersRunner.of(this, this, KEY);
            return runner;
        }
    }

    private static <O extends AbstractStreamOperator<String> & OneInputStreamOperator<Row, String>>
            KeyedOneInputStreamOperatorTestHarness<Row, Row, String> harness(O operator)
                    throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(operator, BY_KEY, KEY);
    }

    @Test
    void registersTheTimersPythonSetBeforeTheCheckpointBarrier() throws Exception {
        WithoutPythonWorker operator = new WithoutPythonWorker();
        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> harness = harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);
            operator.runner.timerFromPython(Row.of("customer-2"), 2_000L);
            assertEquals(0, harness.numEventTimeTimers());

            harness.prepareSnapshotPreBarrier(1L);

            assertEquals(2, harness.numEventTimeTimers());
            assertEquals(0, operator.runner.pendingTimers());
        }
    }

    @Test
    void pyFlinksOwnOperatorLeavesThemUnregisteredAtTheBarrier() throws Exception {
        PyFlinksWithoutPythonWorker operator = new PyFlinksWithoutPythonWorker();
        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> harness = harness(operator)) {
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
        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> harness = harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);
            // As the task does: prepareSnapshotPreBarrier, the barrier, then the snapshot.
            harness.prepareSnapshotPreBarrier(1L);
            checkpoint = harness.snapshot(1L, 1L);
        }

        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> restored =
                harness(new WithoutPythonWorker())) {
            restored.initializeState(checkpoint);
            restored.open();

            assertEquals(1, restored.numEventTimeTimers());
        }
    }

    @Test
    void aJobRestoredFromPyFlinksCheckpointHasLostThem() throws Exception {
        OperatorSubtaskState checkpoint;
        PyFlinksWithoutPythonWorker operator = new PyFlinksWithoutPythonWorker();
        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> harness = harness(operator)) {
            harness.open();
            operator.runner.timerFromPython(Row.of("customer-1"), 1_000L);
            // As the task does: prepareSnapshotPreBarrier, the barrier, then the snapshot.
            harness.prepareSnapshotPreBarrier(1L);
            checkpoint = harness.snapshot(1L, 1L);
        }

        try (KeyedOneInputStreamOperatorTestHarness<Row, Row, String> restored =
                harness(new PyFlinksWithoutPythonWorker())) {
            restored.initializeState(checkpoint);
            restored.open();

            assertEquals(0, restored.numEventTimeTimers());
        }
    }

    @Test
    void copyForChainingIsThisOperatorWithTheSameConfigurationAndInput() {
        Configuration config = PendingTimersRunner.config();
        CheckpointedTimersKeyedProcessOperator<String> operator =
                new CheckpointedTimersKeyedProcessOperator<>(
                        config,
                        PendingTimersRunner.functionInfo(FunctionType.KEYED_PROCESS.getNumber()),
                        INPUT,
                        Types.STRING);
        DataStreamPythonFunctionInfo chained =
                PendingTimersRunner.functionInfo(FunctionType.PROCESS.getNumber());

        AbstractExternalDataStreamPythonFunctionOperator<Long> copy =
                operator.copy(chained, Types.LONG);

        assertSame(CheckpointedTimersKeyedProcessOperator.class, copy.getClass());
        CheckpointedTimersKeyedProcessOperator<Long> same =
                (CheckpointedTimersKeyedProcessOperator<Long>) copy;
        assertSame(config, same.getConfiguration());
        assertEquals(INPUT, same.getInputTypeInfo());
        assertSame(chained, same.getPythonFunctionInfo());
        assertEquals(Types.LONG, same.getProducedType());
    }
}
