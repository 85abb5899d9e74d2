package journeytriggers.bench;

/** One count of the parse-and-count baseline: events of a type in a one-minute window. */
public class TypeCount {

    public String type;

    public long windowStart;

    public long count;

    public TypeCount() {}

    public TypeCount(String type, long windowStart, long count) {
        this.type = type;
        this.windowStart = windowStart;
        this.count = count;
    }
}
