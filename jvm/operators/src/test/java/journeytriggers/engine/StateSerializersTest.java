package journeytriggers.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/** The state formats round-trip; sizes of typical pending entries are bounded. */
class StateSerializersTest {

    private static byte[] bytes(RuleState state) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        RuleStateSerializer.INSTANCE.serialize(state, out);
        return out.getCopyOfBuffer();
    }

    private static RuleState roundTrip(RuleState state) throws Exception {
        byte[] data = bytes(state);
        RuleState copy = RuleStateSerializer.INSTANCE.deserialize(new DataInputDeserializer(data));
        assertEquals(List.of(data.length), List.of(bytes(copy).length));
        assertTrue(java.util.Arrays.equals(data, bytes(copy)));
        return copy;
    }

    private static AnchorInfo anchor() {
        return new AnchorInfo(1_798_761_729_738L, "cust-000183-00037", "add_to_cart", "cust-000183",
                new String[] {"129.99", "p0015"}, new String[] {"p0015", "p0027"});
    }

    @Test
    void everyKindRoundTripsAndStaysSmall() throws Exception {
        RuleState.Absence absence = new RuleState.Absence();
        List<RuleState.Pending> pending = new ArrayList<>();
        pending.add(new RuleState.Pending(1_798_762_629_738L, false, anchor()));
        absence.groups.put(List.of("p0015"), pending);
        RuleState.Absence absenceCopy = (RuleState.Absence) roundTrip(absence);
        assertEquals(anchor(), absenceCopy.groups.get(List.of("p0015")).get(0).anchor);
        AnchorInfo withExtras = new AnchorInfo(1L, "e", "add_to_cart", "c", new String[0], null, "{\"x\":\"y\"}");
        RuleState.Absence carried = new RuleState.Absence();
        carried.groups.put(List.of(), new ArrayList<>(List.of(new RuleState.Pending(2L, false, withExtras))));
        assertEquals("{\"x\":\"y\"}", ((RuleState.Absence) roundTrip(carried)).groups.get(List.of()).get(0).anchor.extras);

        RuleState.Inactivity inactivity = new RuleState.Inactivity();
        inactivity.sessions.add(new RuleState.Session(5L, true, anchor()));
        inactivity.sessions.add(new RuleState.Session(9L, false, null));
        roundTrip(inactivity);

        RuleState.Count count = new RuleState.Count();
        count.groups.put(List.of("p1", "shoes"), new long[] {1L, 2L});
        roundTrip(count);

        RuleState.Sequence sequence = new RuleState.Sequence();
        sequence.groups.put(List.of(), new ArrayList<>(List.of(
                new RuleState.Partial(1L, "cust-000183-00036", "product_view", 1, 1L))));
        roundTrip(sequence);

        roundTrip(new RuleState.Recency(42L));

        RuleState.Trend trend = new RuleState.Trend();
        trend.times = new long[] {1L, 2L};
        trend.counts = new int[] {1, 3};
        roundTrip(trend);

        // Measured sizes of one pending entry (the whole state value with one entry).
        Map<String, Integer> sizes = Map.of(
                "absence", bytes(absence).length,
                "count", bytes(count).length,
                "sequence", bytes(sequence).length,
                "recency", bytes(new RuleState.Recency(42L)).length);
        System.out.println("state bytes: " + sizes + ", inactivity(2 sessions) " + bytes(inactivity).length
                + ", trend(2 times) " + bytes(trend).length);
        assertTrue(bytes(absence).length < 120, sizes.toString());
    }

    @Test
    void eventsAndAgendasRoundTrip() throws Exception {
        EngineEvent event = new EngineEvent("0:c", "c", 7L, "e", "page_view", "{\"a\":1.5}", 3L,
                "{\"orders\":2}", 0.25, "{\"channel\":\"web\"}");
        DataOutputSerializer out = new DataOutputSerializer(64);
        EngineEventSerializer.INSTANCE.serialize(event, out);
        EngineEvent copy = EngineEventSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertEquals(event, copy);
        assertEquals("{\"channel\":\"web\"}", copy.extras());

        Agenda agenda = new Agenda();
        agenda.set("r@1", 5L);
        assertEquals(agenda, AgendaSerializer.INSTANCE.copy(agenda));
    }
}
