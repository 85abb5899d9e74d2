package journeytriggers.bench;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** The flags of the baseline jobs; an unknown or malformed flag is an error with the usage. */
final class BenchOptions {

    final String input;
    final int parallelism;
    final long outOfOrdernessMs;
    final long withinMs;
    final long checkpointIntervalMs;
    final String checkpointDir;

    private BenchOptions(Map<String, String> flags) {
        input = flags.get("--input");
        parallelism = (int) number(flags, "--parallelism", 2);
        outOfOrdernessMs = number(flags, "--out-of-orderness-ms", 10_000);
        withinMs = number(flags, "--within-ms", 15 * 60_000);
        checkpointIntervalMs = number(flags, "--checkpoint-interval-ms", 5_000);
        checkpointDir = flags.get("--checkpoint-dir");
        if (input == null) {
            throw new IllegalArgumentException("--input FILE is required");
        }
        if (parallelism < 1 || outOfOrdernessMs < 0 || withinMs < 1 || checkpointIntervalMs < 0) {
            throw new IllegalArgumentException(
                    "--parallelism and --within-ms must be >= 1, the others >= 0");
        }
    }

    /** Parses {@code --flag value} pairs; {@code allowed} lists the flags a job takes. */
    static BenchOptions parse(String[] args, Set<String> allowed) {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!allowed.contains(args[i]) || i + 1 >= args.length) {
                throw new IllegalArgumentException("unknown flag or missing value: " + args[i]);
            }
            flags.put(args[i], args[i + 1]);
        }
        return new BenchOptions(flags);
    }

    private static long number(Map<String, String> flags, String name, long fallback) {
        String value = flags.get(name);
        if (value == null) {
            return fallback;
        }
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, got " + value, e);
        }
    }
}
