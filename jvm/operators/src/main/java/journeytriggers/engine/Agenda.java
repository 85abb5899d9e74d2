package journeytriggers.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A customer's wake-ups: for each rule state that has one, the next time the engine must look
 * at it without an event. Its distinct times are exactly the deadline timers the customer has.
 */
public final class Agenda {

    final Map<String, Long> wakeUps;

    public Agenda() {
        this(new LinkedHashMap<>());
    }

    Agenda(Map<String, Long> wakeUps) {
        this.wakeUps = wakeUps;
    }

    boolean isEmpty() {
        return wakeUps.isEmpty();
    }

    void set(String ruleKey, long time) {
        if (time == RuleState.NEVER) {
            wakeUps.remove(ruleKey);
        } else {
            wakeUps.put(ruleKey, time);
        }
    }

    void remove(String ruleKey) {
        wakeUps.remove(ruleKey);
    }

    /** The rule keys due at or before {@code t}, earliest first. */
    List<String> due(long t) {
        List<Map.Entry<String, Long>> due = new ArrayList<>();
        for (Map.Entry<String, Long> entry : wakeUps.entrySet()) {
            if (entry.getValue() <= t) {
                due.add(entry);
            }
        }
        due.sort(Map.Entry.comparingByValue());
        List<String> keys = new ArrayList<>(due.size());
        for (Map.Entry<String, Long> entry : due) {
            keys.add(entry.getKey());
        }
        return keys;
    }

    /** The distinct wake-up times. */
    public TreeSet<Long> times() {
        return new TreeSet<>(wakeUps.values());
    }

    /** The wake-up of a rule state, or null. */
    public Long wakeUp(String ruleKey) {
        return wakeUps.get(ruleKey);
    }

    Agenda copy() {
        return new Agenda(new LinkedHashMap<>(wakeUps));
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Agenda && wakeUps.equals(((Agenda) other).wakeUps);
    }

    @Override
    public int hashCode() {
        return wakeUps.hashCode();
    }

    @Override
    public String toString() {
        return wakeUps.toString();
    }
}
