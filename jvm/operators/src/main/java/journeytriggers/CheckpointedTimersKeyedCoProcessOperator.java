package journeytriggers;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.python.util.PythonConfigUtil;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunctionInfo;
import org.apache.flink.streaming.api.operators.SimpleOperatorFactory;
import org.apache.flink.streaming.api.operators.python.process.AbstractExternalDataStreamPythonFunctionOperator;
import org.apache.flink.streaming.api.operators.python.process.ExternalPythonKeyedCoProcessOperator;
import org.apache.flink.streaming.api.transformations.TwoInputTransformation;
import org.apache.flink.types.Row;

/**
 * PyFlink's keyed broadcast process operator (process mode), with the timers of its last bundle
 * in every checkpoint: see {@link CheckpointedTimersKeyedProcessOperator}.
 *
 * <p>PyFlink builds this operator while it translates its own keyed-broadcast transformation, so
 * {@link #connect} builds the same two-input transformation around this operator instead: the
 * keyed input first, its key selector and key type for state, the broadcast input second and
 * unkeyed, as PyFlink's {@code PythonKeyedBroadcastStateTransformationTranslator} does.
 *
 * <p>{@link #copy} builds this class too: PyFlink's {@code PythonOperatorChainingOptimizer} replaces
 * a keyed co-process operator followed by a chainable Python operator with {@code copy()} of it,
 * and PyFlink's own {@code copy()} would give back its operator, without the timers fix.
 */
public class CheckpointedTimersKeyedCoProcessOperator<OUT> extends ExternalPythonKeyedCoProcessOperator<OUT> {

    private static final long serialVersionUID = 1L;

    public CheckpointedTimersKeyedCoProcessOperator(
            Configuration config,
            DataStreamPythonFunctionInfo pythonFunctionInfo,
            TypeInformation<Row> inputTypeInfo1,
            TypeInformation<Row> inputTypeInfo2,
            TypeInformation<OUT> outputTypeInfo) {
        super(config, pythonFunctionInfo, inputTypeInfo1, inputTypeInfo2, outputTypeInfo);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        drainUnregisteredTimers();
    }

    @Override
    public <T> AbstractExternalDataStreamPythonFunctionOperator<T> copy(
            DataStreamPythonFunctionInfo pythonFunctionInfo, TypeInformation<T> outputTypeInfo) {
        return new CheckpointedTimersKeyedCoProcessOperator<>(
                getConfiguration(),
                pythonFunctionInfo,
                getLeftInputType(),
                getRightInputType(),
                outputTypeInfo);
    }

    /** Return the stream of {@code keyed} connected with {@code broadcast} through this operator. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static <OUT> SingleOutputStreamOperator<OUT> connect(
            StreamExecutionEnvironment env,
            String name,
            Configuration config,
            DataStreamPythonFunctionInfo pythonFunctionInfo,
            Transformation<Row> keyed,
            Transformation<Row> broadcast,
            TypeInformation<Row> keyType,
            KeySelector<Row, Row> keySelector,
            TypeInformation<OUT> outputTypeInfo,
            int parallelism)
            throws Exception {
        CheckpointedTimersKeyedCoProcessOperator<OUT> operator =
                new CheckpointedTimersKeyedCoProcessOperator<>(
                        config,
                        pythonFunctionInfo,
                        keyed.getOutputType(),
                        broadcast.getOutputType(),
                        outputTypeInfo);
        TwoInputTransformation<Row, Row, OUT> transformation =
                new TwoInputTransformation<>(
                        keyed,
                        broadcast,
                        name,
                        SimpleOperatorFactory.of(operator),
                        outputTypeInfo,
                        parallelism);
        transformation.setStateKeySelectors(keySelector, null);
        transformation.setStateKeyType(keyType);
        env.addOperator(transformation);
        return (SingleOutputStreamOperator<OUT>)
                PythonConfigUtil.createSingleOutputStreamOperator(env, (Transformation) transformation);
    }
}
