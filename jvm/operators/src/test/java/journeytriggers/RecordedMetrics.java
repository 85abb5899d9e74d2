package journeytriggers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.JobID;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.clusterframework.types.ResourceID;
import org.apache.flink.runtime.executiongraph.ExecutionAttemptID;
import org.apache.flink.runtime.metrics.groups.AbstractMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskManagerMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskMetricGroup;
import org.apache.flink.runtime.metrics.util.TestingMetricRegistry;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;

/**
 * The metrics that operators register, as a metric reporter sees them.
 *
 * <p>The task's metric group is a real one (task manager, job, task, operator) on a registry that
 * records every registration, so the metrics of user groups ({@code addGroup("rule", "r1")}) are
 * seen with their path, as Prometheus sees them with their labels. Give {@link #environment()} to
 * a harness, then look metrics up by their path under the operator's group:
 * {@code counter("rule", "r1", "fired")}.
 */
final class RecordedMetrics {

    private record Registration(Metric metric, String name, AbstractMetricGroup<?> group) {}

    private final List<Registration> registrations = new ArrayList<>();
    private final MockEnvironment environment;

    RecordedMetrics() {
        TestingMetricRegistry registry =
                TestingMetricRegistry.builder()
                        .setRegisterConsumer(
                                (metric, name, group) ->
                                        registrations.add(new Registration(metric, name, group)))
                        .build();
        TaskMetricGroup task =
                TaskManagerMetricGroup.createTaskManagerMetricGroup(
                                registry, "localhost", ResourceID.generate())
                        .addJob(new JobID(), "test-job")
                        .addTask(ExecutionAttemptID.randomId(), "test-task");
        environment = new MockEnvironmentBuilder().setMetricGroup(task).build();
    }

    MockEnvironment environment() {
        return environment;
    }

    /** Every metric under the operator of {@code harness}, by path ({@code rule.r1.fired}). */
    Map<String, Metric> of(AbstractStreamOperatorTestHarness<?> harness) {
        List<String> operator =
                Arrays.asList(
                        ((AbstractMetricGroup<?>) harness.getOperator().getMetricGroup())
                                .getScopeComponents());
        Map<String, Metric> metrics = new TreeMap<>();
        for (Registration registration : registrations) {
            List<String> scope = Arrays.asList(registration.group().getScopeComponents());
            if (scope.size() >= operator.size()
                    && scope.subList(0, operator.size()).equals(operator)) {
                List<String> path = new ArrayList<>(scope.subList(operator.size(), scope.size()));
                path.add(registration.name());
                metrics.put(String.join(".", path), registration.metric());
            }
        }
        return metrics;
    }

    long count(AbstractStreamOperatorTestHarness<?> harness, String... path) {
        Metric metric = of(harness).get(String.join(".", path));
        assertTrue(
                metric instanceof Counter,
                () -> String.join(".", path) + " is no counter; metrics: " + of(harness).keySet());
        return ((Counter) metric).getCount();
    }

    Histogram histogram(AbstractStreamOperatorTestHarness<?> harness, String... path) {
        Metric metric = of(harness).get(String.join(".", path));
        assertTrue(
                metric instanceof Histogram,
                () -> String.join(".", path) + " is no histogram; metrics: " + of(harness).keySet());
        return (Histogram) metric;
    }

    void assertCount(long expected, AbstractStreamOperatorTestHarness<?> harness, String... path) {
        assertEquals(expected, count(harness, path), String.join(".", path));
    }
}
