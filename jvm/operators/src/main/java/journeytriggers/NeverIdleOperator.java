package journeytriggers;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;

/**
 * Forwards records and watermarks unchanged, and never the idle status.
 *
 * <p>Its input's watermark is still the minimum over the input's active channels, so a quiet
 * source partition does not hold it back. What changes is downstream: no operator after this one
 * ever sees an idle input. An idle input that becomes active again is left out of its operator's
 * watermark until it catches up, and rows it then sends behind that watermark are dropped as
 * late by event-time operators (OVER aggregates, joins, windows): a subtask that held rows while
 * idle lost them whenever its neighbour's watermark came first. See jobs/jvm_streams.py.
 */
public final class NeverIdleOperator<T> extends AbstractStreamOperator<T>
        implements OneInputStreamOperator<T, T> {

    private static final long serialVersionUID = 1L;

    @Override
    public void processElement(StreamRecord<T> element) {
        output.collect(element);
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus watermarkStatus) {
        // Neither IDLE nor ACTIVE goes on: downstream inputs stay active, always.
    }
}
