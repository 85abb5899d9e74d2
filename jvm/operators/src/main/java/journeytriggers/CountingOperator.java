package journeytriggers;

import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Forwards every record unchanged and counts it in a metric of the operator's group.
 *
 * <p>Flink SQL has no user metrics; the job passes the rows of a sink (late events, dead
 * letters) through this operator, so their counts are metrics like any other Flink metric.
 */
public final class CountingOperator<T> extends AbstractStreamOperator<T>
        implements OneInputStreamOperator<T, T> {

    private static final long serialVersionUID = 1L;

    private final String metricName;
    private transient Counter counter;

    public CountingOperator(String metricName) {
        this.metricName = metricName;
    }

    @Override
    public void open() throws Exception {
        super.open();
        counter = getMetricGroup().counter(metricName);
    }

    @Override
    public void processElement(StreamRecord<T> element) {
        counter.inc();
        output.collect(element);
    }
}
