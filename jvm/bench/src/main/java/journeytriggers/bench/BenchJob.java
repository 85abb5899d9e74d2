package journeytriggers.bench;

import java.io.File;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * What both baselines share: the environment, the source with its one parse per line and the
 * watermarks, the counting sinks, and the result line.
 *
 * <p>The environment matches the project's own benchmark runs (jobs/triggers_job.py
 * create_table_env): streaming mode, the hashmap state backend, an exactly-once checkpoint
 * every 5 s to a filesystem directory ({@code --checkpoint-interval-ms 0} turns them off), the
 * job's parallelism. Restarts are off, so a failure ends the run at once.
 */
final class BenchJob {

    /** The flags every baseline takes. */
    static final Set<String> COMMON_FLAGS =
            Set.of(
                    "--input",
                    "--parallelism",
                    "--out-of-orderness-ms",
                    "--checkpoint-interval-ms",
                    "--checkpoint-dir");

    /** The optional flags in usage order, with their defaults. */
    private static final String[][] USAGE = {
        {"--parallelism", "N (2)"},
        {"--out-of-orderness-ms", "MS (10000)"},
        {"--within-ms", "MS (900000)"},
        {"--checkpoint-interval-ms", "MS (5000; 0: none)"},
        {"--checkpoint-dir", "URI (a temp dir)"},
    };

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private BenchJob() {}

    /** Parses the flags, or prints the usage and the error and exits with status 2. */
    static BenchOptions options(String job, String[] args, Set<String> flags) {
        try {
            BenchOptions options = BenchOptions.parse(args, flags);
            if (!new File(options.input).isFile()) {
                throw new IllegalArgumentException("--input " + options.input + " is not a file");
            }
            return options;
        } catch (IllegalArgumentException e) {
            StringBuilder usage =
                    new StringBuilder("usage: java -cp journey-triggers-bench.jar:PYFLINK/lib/* ");
            usage.append(job).append(" --input FILE");
            for (String[] flag : USAGE) {
                if (flags.contains(flag[0])) {
                    usage.append(" [").append(flag[0]).append(' ').append(flag[1]).append(']');
                }
            }
            System.err.println(usage + "\n" + e.getMessage());
            System.exit(2);
            throw e;
        }
    }

    /** A local environment (a MiniCluster in this JVM) configured as described above. */
    static StreamExecutionEnvironment environment(BenchOptions options, String name) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("pipeline.name", name);
        settings.put("state.backend.type", "hashmap");
        settings.put("restart-strategy.type", "none");
        if (options.checkpointIntervalMs > 0) {
            String dir = options.checkpointDir;
            if (dir == null) {
                File temp = new File(System.getProperty("java.io.tmpdir"));
                dir = new File(temp, "journey-triggers/bench-checkpoints").toURI().toString();
            }
            settings.put("execution.checkpointing.interval", options.checkpointIntervalMs + " ms");
            settings.put("execution.checkpointing.mode", "EXACTLY_ONCE");
            settings.put("execution.checkpointing.storage", "filesystem");
            settings.put("execution.checkpointing.dir", dir);
        }
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(Configuration.fromMap(settings));
        env.setParallelism(options.parallelism);
        return env;
    }

    /**
     * The input file's lines, each parsed once into a {@link BenchEvent} (invalid ones counted
     * and dropped), with event time {@code ts} and bounded-out-of-orderness watermarks.
     */
    static DataStream<BenchEvent> events(StreamExecutionEnvironment env, BenchOptions options) {
        FileSource<String> source =
                FileSource.forRecordStreamFormat(
                                new TextLineInputFormat(),
                                new Path(new File(options.input).getAbsoluteFile().toURI()))
                        .build();
        return env.fromSource(source, WatermarkStrategy.noWatermarks(), "events")
                .flatMap(new ParseLines())
                .name("parse")
                .assignTimestampsAndWatermarks(
                        WatermarkStrategy.<BenchEvent>forBoundedOutOfOrderness(
                                        Duration.ofMillis(options.outOfOrdernessMs))
                                .withTimestampAssigner((event, previous) -> event.ts))
                .name("watermarks");
    }

    /** Counts the stream's records in an accumulator, then discards them. */
    static <T> void countAndDiscard(DataStream<T> stream, String accumulator) {
        stream.map(new CountingMap<T>(accumulator))
                .returns(stream.getType())
                .name("count " + accumulator)
                .sinkTo(new DiscardingSink<>())
                .name("discard " + accumulator);
    }

    /** An accumulator's total, 0 when no task registered it. */
    static long total(JobExecutionResult result, String accumulator) {
        Long value = result.getAccumulatorResult(accumulator);
        return value == null ? 0L : value;
    }

    /**
     * The result line: the job, the input's lines (valid and invalid), the extra counts, the
     * seconds from before the pipeline was built to the end of {@code execute()} (MiniCluster
     * start, submission, the whole bounded input; not JVM start-up), the throughput, and the
     * job's own run time as Flink measured it (without the MiniCluster's start and stop).
     */
    static String resultLine(
            String job, JobExecutionResult result, Map<String, Long> counts, double seconds) {
        long events = total(result, ParseLines.EVENTS);
        ObjectNode line = MAPPER.createObjectNode();
        line.put("job", job);
        line.put("events", events);
        line.put("invalid", total(result, ParseLines.INVALID));
        counts.forEach(line::put);
        line.put("seconds", Math.round(seconds * 1000) / 1000.0);
        line.put("events_per_s", Math.round(events / seconds * 10) / 10.0);
        line.put("job_runtime_s", result.getNetRuntime() / 1000.0);
        return line.toString();
    }
}
