package journeytriggers.engine;

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The engine outside Flink: {@code EngineCli --rules FILE --events FILE --out-of-orderness-ms N}.
 *
 * <p>Reads the rule set's IR and the prepared events (JSON lines) in file order, and does what
 * {@link RuleEngineFunction} does in a job: buffers each customer's events, advances a
 * watermark of (largest time seen - N - 1) after every event as Flink's bounded
 * out-of-orderness strategy does, fires the per-customer event-time timers the watermark passed
 * (in time order) through the same {@link CustomerEngine}, and at the end advances the
 * watermark to the end of time. Prints the candidates as JSON lines. Events at or before the
 * watermark when they arrive are late: dropped, as the job drops them, and counted on stderr.
 * {@code --check-state-serializers} stores the state through the Flink state serializers.
 */
public final class EngineCli {

    private EngineCli() {}

    public static void main(String[] args) {
        int code;
        try {
            code = run(args, System.out, System.err);
        } catch (IOException e) {
            System.err.println("EngineCli: " + e.getMessage());
            code = 2;
        }
        System.exit(code);
    }

    private static final String USAGE =
            "usage: EngineCli --rules FILE --events FILE [--changes FILE] --out-of-orderness-ms N"
                    + " | EngineCli --local-times FILE | EngineCli --parse-events FILE --max-chars N";

    static int run(String[] args, PrintStream stdout, PrintStream stderr) throws IOException {
        if (args.length == 2 && args[0].equals("--local-times")) {
            return localTimes(Path.of(args[1]), stdout);
        }
        if (args.length == 4 && args[0].equals("--parse-events") && args[2].equals("--max-chars")) {
            return parseEvents(Path.of(args[1]), Integer.parseInt(args[3]), stdout);
        }
        Path rulesFile = null;
        Path eventsFile = null;
        Path changesFile = null;
        long outOfOrderness = 0;
        boolean checkSerializers = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            boolean hasValue = i + 1 < args.length;
            if (arg.equals("--rules") && hasValue) {
                rulesFile = Path.of(args[++i]);
            } else if (arg.equals("--events") && hasValue) {
                eventsFile = Path.of(args[++i]);
            } else if (arg.equals("--changes") && hasValue) {
                changesFile = Path.of(args[++i]);
            } else if (arg.equals("--out-of-orderness-ms") && hasValue) {
                try {
                    outOfOrderness = Long.parseLong(args[++i]);
                } catch (NumberFormatException e) {
                    outOfOrderness = -1;
                }
                if (outOfOrderness < 0) {
                    stderr.println("EngineCli: --out-of-orderness-ms needs a whole number >= 0");
                    return 2;
                }
            } else if (arg.equals("--check-state-serializers")) {
                checkSerializers = true;
            } else {
                stderr.println(USAGE);
                return 2;
            }
        }
        if (rulesFile == null || eventsFile == null) {
            stderr.println(USAGE);
            return 2;
        }
        OutputStream raw = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
        PrintStream out = stdout == System.out ? new PrintStream(raw, false, StandardCharsets.UTF_8) : stdout;
        RuleTimeline rules;
        try {
            rules = new RuleTimeline(Files.readString(rulesFile, StandardCharsets.UTF_8), false);
            if (changesFile != null) {
                applyChanges(rules, Files.readAllLines(changesFile, StandardCharsets.UTF_8), out);
            }
        } catch (IllegalArgumentException e) {
            stderr.println("EngineCli: " + e.getMessage());
            return 2;
        }
        Driver driver = new Driver(rules, outOfOrderness, checkSerializers, c -> out.println(c.toJson()));
        try (BufferedReader reader = Files.newBufferedReader(eventsFile, StandardCharsets.UTF_8)) {
            String line;
            long number = 0;
            while ((line = reader.readLine()) != null) {
                number++;
                if (line.isBlank()) {
                    continue;
                }
                EngineEvent event;
                try {
                    event = EngineEvent.fromJson(Json.parse(line));
                } catch (IllegalArgumentException e) {
                    out.flush();
                    stderr.println(eventsFile + ":" + number + ": " + e.getMessage());
                    return 2;
                }
                driver.add(event);
            }
            driver.advance(Long.MAX_VALUE);
        } catch (Exception e) {
            out.flush();
            stderr.println("EngineCli: " + e);
            e.printStackTrace(stderr);
            return 1;
        }
        out.flush();
        if (driver.late > 0) {
            stderr.println("EngineCli: " + driver.late + " late events dropped (raise --out-of-orderness-ms)");
        }
        if (driver.pendingState() != 0) {
            stderr.println("EngineCli: " + driver.pendingState() + " state entries left at the end of time");
            return 1;
        }
        return 0;
    }

    /**
     * Prints the local minute of day and day of each line's {"i", "time_zone", "ts"} as
     * {"i", "known", "minute", "day"}: what local_time conditions read (Cond.LocalTime).
     */
    private static int localTimes(Path file, PrintStream out) throws IOException {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            var node = Json.parse(line);
            int[] local = Cond.LocalTime.minuteAndDay(node.get("time_zone").asText(), node.get("ts").longValue());
            var result = Json.MAPPER.createObjectNode();
            result.set("i", node.get("i"));
            result.put("known", local != null);
            if (local != null) {
                result.put("minute", local[0]);
                result.put("day", Cond.LocalTime.dayName(local[1]));
            }
            out.println(result.toString());
        }
        out.flush();
        return 0;
    }

    /**
     * Parses each record of a file (lines end at a line feed only; a carriage return before it
     * is dropped, as the job's file source reads them) with the JVM ingest's parser and prints
     * {"reason"} or {"event_id", "event_type", "customer_key", "ts_ms"} per record.
     */
    private static int parseEvents(Path file, int maxChars, PrintStream out) throws IOException {
        var parser = new journeytriggers.ingest.EventParser(maxChars, 0, 0, false);
        String text = Files.readString(file, StandardCharsets.UTF_8);
        List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
        if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
            lines.remove(lines.size() - 1);
        }
        for (String line : lines) {
            String raw = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
            var result = parser.parse(raw, null);
            var node = Json.MAPPER.createObjectNode();
            if (result.reason() != null) {
                node.put("reason", result.reason());
            } else {
                node.put("event_id", result.event().eventId());
                node.put("event_type", result.event().eventType());
                node.put("customer_key", result.event().customerKey());
                node.put("ts_ms", result.event().tsMs());
            }
            // Escaped to ASCII: a lone surrogate of an id must not become '?' in UTF-8.
            out.println(Json.MAPPER.writer()
                    .with(org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonWriteFeature
                            .ESCAPE_NON_ASCII)
                    .writeValueAsString(node));
        }
        out.flush();
        return 0;
    }

    /**
     * Applies rule changes (JSON lines, arrival order) before any event, as if each arrived
     * before the job's event time reached it; prints each rejected one as
     * {"rejected": line index, "reason": ...}.
     */
    private static void applyChanges(RuleTimeline rules, List<String> lines, PrintStream out) {
        int index = 0;
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            RuleTimeline.Change change = RuleTimeline.Change.parse(rules.size(), line);
            RuleTimeline.Verdict verdict = rules.check(change);
            if (verdict.accepted()) {
                rules.add(change);
            } else if (!verdict.noOp()) {
                var node = Json.MAPPER.createObjectNode();
                node.put("rejected", index);
                node.put("reason", verdict.reason());
                out.println(node.toString());
            }
            index++;
        }
    }

    /** A timer: a customer and a time, in Flink's firing order (by time). */
    private record Timer(long time, String customer) implements Comparable<Timer> {
        @Override
        public int compareTo(Timer other) {
            int byTime = Long.compare(time, other.time);
            return byTime != 0 ? byTime : customer.compareTo(other.customer);
        }
    }

    /** One customer's buffer, timers and state: what the Flink function keeps in keyed state. */
    private static final class Customer implements CustomerEngine.Store, CustomerEngine.Timers {
        final String key;
        final Driver driver;
        final TreeMap<Long, List<EngineEvent>> buffer = new TreeMap<>();
        final TreeSet<Long> timers = new TreeSet<>();
        final Map<String, Object> states = new HashMap<>();
        Agenda agenda;

        Customer(String key, Driver driver) {
            this.key = key;
            this.driver = driver;
        }

        @Override
        public RuleState get(String ruleKey) throws IOException {
            Object state = states.get(ruleKey);
            if (state instanceof byte[]) {
                return RuleStateSerializer.INSTANCE.deserialize(new DataInputDeserializer((byte[]) state));
            }
            return (RuleState) state;
        }

        @Override
        public void put(String ruleKey, RuleState state) throws IOException {
            if (driver.checkSerializers) {
                DataOutputSerializer bytes = new DataOutputSerializer(64);
                RuleStateSerializer.INSTANCE.serialize(state, bytes);
                states.put(ruleKey, bytes.getCopyOfBuffer());
            } else {
                states.put(ruleKey, state);
            }
        }

        @Override
        public void remove(String ruleKey) {
            states.remove(ruleKey);
        }

        @Override
        public Agenda agenda() {
            return agenda;
        }

        @Override
        public void agenda(Agenda agenda) {
            this.agenda = agenda;
        }

        @Override
        public void register(long time) {
            if (timers.add(time)) {
                driver.timers.add(new Timer(time, key));
            }
        }

        @Override
        public void delete(long time) {
            if (!buffer.containsKey(time) && timers.remove(time)) {
                driver.timers.remove(new Timer(time, key));
            }
        }
    }

    /** Buffers events per customer and fires timers as the watermark passes them. */
    static final class Driver {
        final RuleTimeline rules;
        final long outOfOrderness;
        final boolean checkSerializers;
        final Consumer<Candidate> out;
        final Map<String, Customer> customers = new HashMap<>();
        final TreeSet<Timer> timers = new TreeSet<>();
        long maxTs = Long.MIN_VALUE;
        long watermark = Long.MIN_VALUE;
        long late;

        Driver(RuleTimeline rules, long outOfOrderness, boolean checkSerializers, Consumer<Candidate> out) {
            this.rules = rules;
            this.outOfOrderness = outOfOrderness;
            this.checkSerializers = checkSerializers;
            this.out = out;
        }

        void add(EngineEvent event) throws Exception {
            if (event.tsMs() <= watermark) {
                late++;
                return;
            }
            Customer customer = customers.computeIfAbsent(event.customerKey(), k -> new Customer(k, this));
            customer.buffer.computeIfAbsent(event.tsMs(), t -> new ArrayList<>(1)).add(event);
            customer.register(event.tsMs());
            maxTs = Math.max(maxTs, event.tsMs());
            long next = maxTs - outOfOrderness - 1;
            if (next > watermark) {
                advance(next);
            }
        }

        void advance(long to) throws Exception {
            watermark = Math.max(watermark, to);
            while (!timers.isEmpty() && timers.first().time <= watermark) {
                Timer timer = timers.pollFirst();
                Customer customer = customers.get(timer.customer);
                customer.timers.remove(timer.time);
                List<EngineEvent> events = customer.buffer.remove(timer.time);
                new CustomerEngine(rules.at(timer.time)).onTime(timer.time, events, customer, customer, out);
                if (customer.buffer.isEmpty() && customer.timers.isEmpty() && customer.states.isEmpty()
                        && customer.agenda == null) {
                    customers.remove(customer.key);
                }
            }
        }

        /** State entries still held (only rules that keep state forever, e.g. recency more_than). */
        long pendingState() {
            long entries = 0;
            for (Customer customer : customers.values()) {
                entries += customer.buffer.size() + customer.timers.size() + (customer.agenda == null ? 0 : 1);
            }
            return entries;
        }
    }
}
