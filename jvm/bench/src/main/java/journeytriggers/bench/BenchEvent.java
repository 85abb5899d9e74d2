package journeytriggers.bench;

/**
 * A valid event, reduced to what the baselines read: the customer key, the type and the event
 * time. A Flink POJO (public fields, a public no-argument constructor), so Flink serializes it
 * with its POJO serializer, not Kryo.
 */
public class BenchEvent {

    /** {@code customer_id}, else {@code "anon:" + anonymous_id}, else {@code "device:" + device_id}. */
    public String customer;

    /** {@code event_type}, one of the project's 17 types. */
    public String type;

    /** {@code ts} as epoch milliseconds. */
    public long ts;

    public BenchEvent() {}

    public BenchEvent(String customer, String type, long ts) {
        this.customer = customer;
        this.type = type;
        this.ts = ts;
    }

    @Override
    public String toString() {
        return "BenchEvent{" + customer + ", " + type + ", " + ts + "}";
    }
}
