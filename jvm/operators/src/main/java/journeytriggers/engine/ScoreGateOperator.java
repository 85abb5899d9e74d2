package journeytriggers.engine;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Decides the conditions of rules that read the score, on scored candidates: the engine fires
 * such rules without their conditions (Rule.deferringScore), the job scores every candidate
 * (a vectorized Python UDF over the small candidate stream), and this operator forwards a
 * candidate of such a rule only if the rule's whole condition holds for its anchor with that
 * score. Conditions only choose anchors, so this gives the decisions the reference makes.
 *
 * <p>Rows carry, at the given positions: rule id, rule version, the anchor's customer id, event
 * time (epoch ms), event type, record text, profile (JSON text), session start (epoch ms) and
 * the score. Candidates of other rules pass unchanged.
 */
public final class ScoreGateOperator extends AbstractStreamOperator<Row> implements OneInputStreamOperator<Row, Row> {

    private static final long serialVersionUID = 1L;

    /** The positions of the fields read, in the order the class comment gives. */
    public static final String[] FIELDS = {
        "rule_id", "rule_version", "customer_id", "ts_ms", "event_type", "line", "profile",
        "session_start_ms", "score",
    };

    private final String rulesJson;
    private final int[] at;
    private transient Map<String, Cond> gates;

    /**
     * @param rulesJson the job's rule set IR (the rules of its rule files)
     * @param positions the positions of {@link #FIELDS} in the rows
     */
    public ScoreGateOperator(String rulesJson, int[] positions) {
        if (positions.length != FIELDS.length) {
            throw new IllegalArgumentException("need the positions of " + String.join(", ", FIELDS));
        }
        RuleSet.parse(rulesJson); // fail at job construction, not in the task
        this.rulesJson = rulesJson;
        this.at = positions.clone();
    }

    @Override
    public void open() throws Exception {
        super.open();
        gates = new HashMap<>();
        for (Rule rule : RuleSet.parse(rulesJson).rules()) {
            if (Cond.usesScore(rule.conditions)) {
                gates.put(rule.key, rule.conditions);
            }
        }
    }

    @Override
    public void processElement(StreamRecord<Row> element) throws Exception {
        Row row = element.getValue();
        Cond gate = gates.get(row.getField(at[0]) + "@" + row.getField(at[1]));
        if (gate == null || Cond.holds(gate, anchor(row))) {
            output.collect(element);
        }
    }

    private EngineEvent anchor(Row row) {
        String customer = (String) row.getField(at[2]);
        return new EngineEvent(customer, customer, (Long) row.getField(at[3]), "", (String) row.getField(at[4]),
                (String) row.getField(at[5]), (Long) row.getField(at[7]), (String) row.getField(at[6]),
                (Double) row.getField(at[8]), null);
    }
}
