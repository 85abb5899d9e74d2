package journeytriggers.engine;

import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * A compiled condition of the rule IR (journey_triggers/rules/ir.py), with the semantics of
 * journey_triggers/semantics/conditions.py and context.py. Compiled once per rule set: regular
 * expressions, operands and store projections are prepared here, not per event.
 */
public sealed interface Cond
        permits Cond.Field, Cond.All, Cond.Any, Cond.Not, Cond.LocalTime, Cond.StoreDistance,
                Cond.Score, Cond.SessionDwell {

    /** Decides the condition on an event. */
    boolean test(EngineEvent event);

    /** Compiles an IR condition ({@code op}: field, all, any, not, local_time, ...). */
    static Cond parse(JsonNode node, String where) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(where + ": a condition is a JSON object");
        }
        String op = Ir.text(node, "op", where);
        switch (op) {
            case "field":
                return Field.parse(node, where);
            case "all":
                return new All(list(node, where));
            case "any":
                return new Any(list(node, where));
            case "not":
                return new Not(parse(node.get("of"), where + ".of"));
            case "local_time":
                return LocalTime.parse(node, where);
            case "store_distance":
                return StoreDistance.parse(node, where);
            case "score":
                return new Score(Ir.number(node, "gte", where));
            case "session_dwell":
                return new SessionDwell(Ir.integer(node, "more_than_ms", where));
            default:
                throw new IllegalArgumentException(where + ": unknown condition op '" + op + "'");
        }
    }

    /** Compiles an optional condition: null (JSON null or absent) is "always true". */
    static Cond parseOptional(JsonNode node, String where) {
        return node == null || node.isNull() ? null : parse(node, where);
    }

    /** Whether the condition reads the model's score anywhere in it. */
    static boolean usesScore(Cond condition) {
        if (condition instanceof Score) {
            return true;
        }
        if (condition instanceof All all) {
            return java.util.Arrays.stream(all.of).anyMatch(Cond::usesScore);
        }
        if (condition instanceof Any any) {
            return java.util.Arrays.stream(any.of).anyMatch(Cond::usesScore);
        }
        return condition instanceof Not not && usesScore(not.of);
    }

    /** {@code evaluate}: a null condition holds. */
    static boolean holds(Cond condition, EngineEvent event) {
        return condition == null || condition.test(event);
    }

    private static Cond[] list(JsonNode node, String where) {
        JsonNode of = node.get("of");
        if (of == null || !of.isArray() || of.isEmpty()) {
            throw new IllegalArgumentException(where + ".of: a non-empty list of conditions");
        }
        Cond[] members = new Cond[of.size()];
        for (int i = 0; i < members.length; i++) {
            members[i] = parse(of.get(i), where + ".of[" + i + "]");
        }
        return members;
    }

    /** The comparisons of a field condition. */
    enum Test {
        EQ("="), NE("!="), LT("<"), LE("<="), GT(">"), GE(">="), IN("in"), NOT_IN("not in"),
        EXISTS("exists"), MATCHES("matches"), CONTAINS("contains");

        final String text;

        Test(String text) {
            this.text = text;
        }

        static Test of(String text, String where) {
            for (Test test : values()) {
                if (test.text.equals(text)) {
                    return test;
                }
            }
            throw new IllegalArgumentException(where + ": unknown test '" + text + "'");
        }
    }

    /** A rule operand: a string, a number (compared as a double) or a boolean. */
    final class Operand {
        final String text;
        final double number;
        final Boolean bool;

        private Operand(String text, double number, Boolean bool) {
            this.text = text;
            this.number = number;
            this.bool = bool;
        }

        static Operand of(JsonNode value, String where) {
            if (value != null && value.isTextual()) {
                return new Operand(value.textValue(), Double.NaN, null);
            }
            if (value != null && value.isBoolean()) {
                return new Operand(null, Double.NaN, value.booleanValue());
            }
            if (value != null && value.isNumber()) {
                double number = value.isIntegralNumber() && !value.canConvertToLong()
                        ? value.bigIntegerValue().doubleValue()
                        : value.doubleValue();
                return new Operand(null, number, null);
            }
            throw new IllegalArgumentException(where + ": the value must be a string, number or boolean");
        }

        /** {@code conditions.equals}: the operand's type decides the comparison. */
        boolean equalsValue(JsonNode value) {
            if (bool != null) {
                return value.isBoolean() && value.booleanValue() == bool;
            }
            if (text == null) {
                double found = Json.asNumber(value);
                return !Double.isNaN(found) && found == number;
            }
            return value.isTextual() && value.textValue().equals(text);
        }
    }

    /** A comparison of an event field, or of {@code profile.<name>}, with an operand. */
    final class Field implements Cond {
        final String name;
        final boolean profile;
        final String[] path;
        final Test test;
        final Operand operand;
        final Operand[] items;
        final Pattern regex;
        final String element;

        private Field(String name, Test test, Operand operand, Operand[] items, Pattern regex, String element) {
            this.name = name;
            this.profile = name.startsWith("profile.");
            this.path = (profile ? name.substring("profile.".length()) : name).split("\\.", -1);
            this.test = test;
            this.operand = operand;
            this.items = items;
            this.regex = regex;
            this.element = element;
        }

        static Field parse(JsonNode node, String where) {
            String name = Ir.text(node, "field", where);
            Test test = Test.of(Ir.text(node, "test", where), where);
            JsonNode value = node.get("value");
            switch (test) {
                case EXISTS:
                    return new Field(name, test, null, null, null, null);
                case IN:
                case NOT_IN: {
                    if (value == null || !value.isArray() || value.isEmpty()) {
                        throw new IllegalArgumentException(where + ": '" + test.text + "' needs a non-empty list");
                    }
                    Operand[] items = new Operand[value.size()];
                    for (int i = 0; i < items.length; i++) {
                        items[i] = Operand.of(value.get(i), where);
                    }
                    return new Field(name, test, null, items, null, null);
                }
                case MATCHES: {
                    if (value == null || value.isNull() || value.isContainerNode()) {
                        throw new IllegalArgumentException(where + ": 'matches' needs a regular expression");
                    }
                    try {
                        // Python's re: . does not match \n only; \d, \w, \s are Unicode classes.
                        Pattern regex = Pattern.compile(
                                PyText.pythonStr(value),
                                Pattern.UNIX_LINES | Pattern.UNICODE_CHARACTER_CLASS);
                        return new Field(name, test, null, null, regex, null);
                    } catch (PatternSyntaxException e) {
                        throw new IllegalArgumentException(where + ": bad regular expression: " + e.getDescription(), e);
                    }
                }
                case CONTAINS:
                    if (value == null || !value.isTextual()) {
                        throw new IllegalArgumentException(where + ": 'contains' needs a string");
                    }
                    return new Field(name, test, null, null, null, value.textValue());
                case LT:
                case LE:
                case GT:
                case GE:
                    if (value == null || !value.isNumber()) {
                        throw new IllegalArgumentException(where + ": '" + test.text + "' needs a number");
                    }
                    return new Field(name, test, Operand.of(value, where), null, null, null);
                default:
                    return new Field(name, test, Operand.of(value, where), null, null, null);
            }
        }

        @Override
        public boolean test(EngineEvent event) {
            // A profile field reads {"profile": profile}; without a profile it has no value.
            JsonNode root = profile ? event.profile() : event.record();
            if (root == null) {
                return false;
            }
            if (test == Test.CONTAINS) {
                JsonNode list = Json.walk(root, path);
                if (list == null || !list.isArray()) {
                    return false;
                }
                for (JsonNode item : list) {
                    if (element.equals(Json.elementText(item))) {
                        return true;
                    }
                }
                return false;
            }
            JsonNode value = Json.scalar(root, path);
            if (value == null) {
                return false;
            }
            switch (test) {
                case EXISTS:
                    return true;
                case EQ:
                    return operand.equalsValue(value);
                case NE:
                    return !operand.equalsValue(value);
                case IN:
                    return anyItem(value);
                case NOT_IN:
                    return !anyItem(value);
                case MATCHES:
                    return value.isTextual() && regex.matcher(value.textValue()).matches();
                default:
                    break;
            }
            double number = Json.asNumber(value);
            if (Double.isNaN(number)) {
                return false;
            }
            switch (test) {
                case LT:
                    return number < operand.number;
                case LE:
                    return number <= operand.number;
                case GT:
                    return number > operand.number;
                case GE:
                    return number >= operand.number;
                default:
                    throw new IllegalStateException("unreachable: " + test);
            }
        }

        private boolean anyItem(JsonNode value) {
            for (Operand item : items) {
                if (item.equalsValue(value)) {
                    return true;
                }
            }
            return false;
        }

        /** Whether the condition reads {@code profile.<name>}. */
        public boolean readsProfile() {
            return profile;
        }
    }

    /** Every member holds. */
    final class All implements Cond {
        final Cond[] of;

        All(Cond[] of) {
            this.of = of;
        }

        @Override
        public boolean test(EngineEvent event) {
            for (Cond member : of) {
                if (!member.test(event)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** A member holds. */
    final class Any implements Cond {
        final Cond[] of;

        Any(Cond[] of) {
            this.of = of;
        }

        @Override
        public boolean test(EngineEvent event) {
            for (Cond member : of) {
                if (member.test(event)) {
                    return true;
                }
            }
            return false;
        }
    }

    /** The member does not hold. */
    final class Not implements Cond {
        final Cond of;

        Not(Cond of) {
            this.of = of;
        }

        @Override
        public boolean test(EngineEvent event) {
            return !of.test(event);
        }
    }

    /** The event's local minute of day in [start, end) (wrapping), on the listed local days. */
    final class LocalTime implements Cond {
        /** 2037-01-01T00:00:00Z: context.LOCAL_TIME_LIMIT_MS. */
        static final long LIMIT_MS = 2_114_380_800_000L;

        private static final Pattern ZONE_NAME =
                Pattern.compile("[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)+|UTC");
        private static final Map<String, ZoneId> ZONES = new ConcurrentHashMap<>();
        private static final ZoneId NO_ZONE = java.time.ZoneOffset.UTC;
        private static final String[] DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

        final int startMinute;
        final int endMinute;
        /** Bit i: day i (0 = Monday); all bits without days. */
        final int dayMask;

        LocalTime(int startMinute, int endMinute, int dayMask) {
            this.startMinute = startMinute;
            this.endMinute = endMinute;
            this.dayMask = dayMask;
        }

        static LocalTime parse(JsonNode node, String where) {
            int start = (int) Ir.integer(node, "start_minute", where);
            int end = (int) Ir.integer(node, "end_minute", where);
            if (start < 0 || start >= 1440 || end < 0 || end >= 1440) {
                throw new IllegalArgumentException(where + ": minutes must be in [0, 1440)");
            }
            JsonNode days = node.get("days");
            int mask = 0x7F;
            if (days != null && !days.isNull()) {
                mask = 0;
                for (JsonNode day : days) {
                    int index = List.of(DAYS).indexOf(day.asText());
                    if (index < 0) {
                        throw new IllegalArgumentException(where + ": unknown day " + day);
                    }
                    mask |= 1 << index;
                }
            }
            return new LocalTime(start, end, mask);
        }

        /**
         * The zone of a name: the names that context.zones() accepts (Area/Location or UTC,
         * none of SystemV/, posix/, right/) that the JVM knows; null otherwise.
         */
        static ZoneId zone(String name) {
            ZoneId zone = ZONES.get(name);
            if (zone == null) {
                zone = NO_ZONE;
                if (ZONE_NAME.matcher(name).matches()
                        && !name.startsWith("SystemV/")
                        && !name.startsWith("posix/")
                        && !name.startsWith("right/")
                        && ZoneId.getAvailableZoneIds().contains(name)) {
                    zone = ZoneId.of(name);
                }
                if (ZONES.size() < 4096) {
                    ZONES.put(name, zone);
                }
            }
            return zone == NO_ZONE ? null : zone;
        }

        /**
         * The local minute of day and day (0 = Monday) of epoch ms {@code ts} in the zone named
         * {@code zoneName}, or null for a zone context.zones() does not accept or a time outside
         * [1970, 2037) (context.local_minute_and_day).
         */
        static int[] minuteAndDay(String zoneName, long ts) {
            ZoneId zone = zone(zoneName);
            if (zone == null || ts < 0 || ts >= LIMIT_MS) {
                return null;
            }
            ZonedDateTime local = Instant.ofEpochSecond(Math.floorDiv(ts, 1000L)).atZone(zone);
            return new int[] {local.getHour() * 60 + local.getMinute(), local.getDayOfWeek().getValue() - 1};
        }

        @Override
        public boolean test(EngineEvent event) {
            JsonNode name = Json.scalar(event.record(), new String[] {"time_zone"});
            if (name == null || !name.isTextual()) {
                return false;
            }
            int[] local = minuteAndDay(name.textValue(), event.tsMs());
            if (local == null || (dayMask & (1 << local[1])) == 0) {
                return false;
            }
            int minute = local[0];
            if (startMinute < endMinute) {
                return startMinute <= minute && minute < endMinute;
            }
            return minute >= startMinute || minute < endMinute;
        }

        /** Day names, 0 = Monday. */
        static String dayName(int day) {
            return DAYS[day];
        }
    }

    /** The event's properties.lat/lon within max_km of a store (context.near_any). */
    final class StoreDistance implements Cond {
        /** context.KM_PER_DEGREE: pi * 6371.0088 / 180. */
        static final double KM_PER_DEGREE = Math.PI * 6371.0088 / 180.0;
        private static final String[] LAT = {"properties", "lat"};
        private static final String[] LON = {"properties", "lon"};

        final double bound;
        final double[] lat;
        final double[] lon;
        final double[] kx;

        StoreDistance(double maxKm, double[] lat, double[] lon, double[] kx) {
            this.bound = maxKm * maxKm;
            this.lat = lat;
            this.lon = lon;
            this.kx = kx;
        }

        static StoreDistance parse(JsonNode node, String where) {
            double maxKm = Ir.number(node, "max_km", where);
            JsonNode stores = node.get("stores");
            if (stores == null || !stores.isArray()) {
                throw new IllegalArgumentException(where + ".stores: a list of stores");
            }
            List<double[]> rows = new ArrayList<>();
            for (int i = 0; i < stores.size(); i++) {
                JsonNode store = stores.get(i);
                String at = where + ".stores[" + i + "]";
                double lat = Ir.number(store, "lat", at);
                double lon = Ir.number(store, "lon", at);
                // The reference's own factor, so the engine needs no cosine of its own: Python's
                // math.cos (glibc) and every Java cosine differ in the last bit now and then.
                double kx = Ir.number(store, "kx", at);
                rows.add(new double[] {lat, lon, kx});
            }
            double[] lat = new double[rows.size()];
            double[] lon = new double[rows.size()];
            double[] kx = new double[rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                lat[i] = rows.get(i)[0];
                lon[i] = rows.get(i)[1];
                kx[i] = rows.get(i)[2];
            }
            return new StoreDistance(maxKm, lat, lon, kx);
        }

        @Override
        public boolean test(EngineEvent event) {
            double la = Json.asNumber(Json.scalar(event.record(), LAT));
            double lo = Json.asNumber(Json.scalar(event.record(), LON));
            if (Double.isNaN(la) || Double.isNaN(lo) || !(-90.0 <= la && la <= 90.0 && -180.0 <= lo && lo <= 180.0)) {
                return false;
            }
            for (int i = 0; i < lat.length; i++) {
                double difference = lo - lon[i];
                if (difference > 180.0) {
                    difference -= 360.0;
                } else if (difference < -180.0) {
                    difference += 360.0;
                }
                double dx = difference * kx[i];
                double dy = (la - lat[i]) * KM_PER_DEGREE;
                if (dx * dx + dy * dy <= bound) {
                    return true;
                }
            }
            return false;
        }
    }

    /** The model's score at the event is at least gte (false without a score). */
    final class Score implements Cond {
        final double gte;

        Score(double gte) {
            this.gte = gte;
        }

        @Override
        public boolean test(EngineEvent event) {
            Double score = event.score();
            return score != null && score >= gte;
        }
    }

    /** The event is more than moreThanMs after its session's first event. */
    final class SessionDwell implements Cond {
        final long moreThanMs;

        SessionDwell(long moreThanMs) {
            this.moreThanMs = moreThanMs;
        }

        @Override
        public boolean test(EngineEvent event) {
            Long start = event.sessionStartMs();
            return start != null && event.tsMs() - start > moreThanMs;
        }
    }
}
