"""Compile rule conditions to Flink SQL boolean expressions over the raw record (``line``).

The semantics are those of :mod:`journey_triggers.semantics.conditions`; every expression is
wrapped so that it is TRUE or FALSE, never NULL (a NULL would turn ``NOT`` into NULL and let a
record through, or drop it, by three-valued logic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from jobs.sql import (
    CATALOG,
    DECISIONS_SINK,
    EVENTS,
    EVENTS_CONTEXT,
    EVENTS_PROFILE,
    FEATURES_SQL_TYPE,
    PRODUCT_SQL_TYPE,
    cart_snapshot,
    customer_of,
    interval,
    json_is_string,
    json_number,
    json_value,
    quote,
    utc,
)
from journey_triggers.decisions import DECISION_SCHEMA_VERSION, STATUS_FIRED
from journey_triggers.durations import format_duration_ms, parse_duration_ms
from journey_triggers.errors import JourneyTriggersError
from journey_triggers.rules.model import (
    AbsenceTrigger,
    All,
    Any_,
    Condition,
    CountTrigger,
    EventPattern,
    EventTrigger,
    InactivityTrigger,
    LocalTime,
    Not,
    Predicate,
    RecencyTrigger,
    Rule,
    Score,
    SequenceTrigger,
    SessionDwell,
    StoreDistance,
    TrendTrigger,
)
from journey_triggers.semantics import context
from journey_triggers.semantics.conditions import (
    PROFILE_PREFIX,
    UnsupportedConditionError,
    conditions_of,
    uses_profile,
    uses_score,
    uses_session,
)
from journey_triggers.semantics.evaluator import (
    absence_summary,
    count_summary,
    event_summary,
    inactivity_summary,
    recency_summary,
    sequence_summary,
    sequence_variables,
    trend_summary,
)
from udfs.features import FEATURE_NAMES


def _path(field: str) -> str:
    # Field names are validated by the rule model: identifiers joined by dots.
    return "$." + field


def field_text(field: str, column: str = "line") -> str:
    """Return SQL for a field's value as text (JSON_VALUE), NULL when it has none."""
    return json_value(_path(field), column)


def _number(field: str, column: str) -> str:
    """Return the field as DOUBLE if it is a JSON number or a string written as one, else NULL."""
    return json_number(_path(field), column)


def _double(value: float) -> str:
    return f"CAST({quote(repr(float(value)))} AS DOUBLE)"


def _equals(field: str, operand: str | int | float | bool, column: str) -> str:
    path = _path(field)
    if isinstance(operand, bool):
        literal = "[true]" if operand else "[false]"
        wrapped = f"JSON_QUERY({column}, {quote(path)} WITH UNCONDITIONAL ARRAY WRAPPER)"
        return f"{wrapped} = {quote(literal)}"
    if isinstance(operand, int | float):
        return f"{_number(field, column)} = {_double(operand)}"
    return f"({json_is_string(path, column)} AND {field_text(field, column)} = {quote(operand)})"


def _has_value(field: str, column: str) -> str:
    return f"{field_text(field, column)} IS NOT NULL"


def _predicate(predicate: Predicate, column: str) -> str:
    field, op, operand = predicate.field, predicate.op, predicate.value
    if op == "exists":
        return _has_value(field, column)
    if op in ("=", "!="):
        assert operand is not None and not isinstance(operand, list)
        equal = _equals(field, operand, column)
        if op == "=":
            return equal
        return f"({_has_value(field, column)} AND NOT COALESCE({equal}, FALSE))"
    if op in ("in", "not in"):
        assert isinstance(operand, list)
        found = " OR ".join(f"COALESCE({_equals(field, item, column)}, FALSE)" for item in operand)
        return f"({found})" if op == "in" else f"({_has_value(field, column)} AND NOT ({found}))"
    if op == "contains":
        assert isinstance(operand, str)
        path = _path(field)
        is_list = f"JSON_QUERY({column}, {quote(path)}) LIKE '[%'"
        elements = f"JSON_QUERY({column}, {quote(path + '[*]')} RETURNING ARRAY<STRING>)"
        return f"({is_list} AND ARRAY_CONTAINS({elements}, {quote(operand)}))"
    if op == "matches":
        # \z, not $: Java's $ also matches before a final newline; Python's fullmatch does not.
        regex = quote(f"^(?:{operand})\\z")
        path = _path(field)
        return f"({json_is_string(path, column)} AND REGEXP({field_text(field, column)}, {regex}))"
    assert isinstance(operand, int | float) and not isinstance(operand, bool)
    return f"{_number(field, column)} {op} {_double(operand)}"


_ZONE_LIST = quote("|" + "|".join(context.zones()) + "|")
DAY_NUMBERS = {"sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7}
"""DAYOFWEEK's numbers."""


def _local_text(alias: str) -> tuple[str, str]:
    """Return SQL for (the row has a known zone, its local time as 'yyyy-MM-dd HH:mm:ss')."""
    zone = field_text("time_zone", f"{alias}.line")
    # A zone is a name both sides know; CONVERT_TZ would read any other name as GMT.
    known = (
        f"REGEXP({zone}, {quote(context.ZONE_NAME.pattern)}) "
        f"AND POSITION(CONCAT('|', {zone}, '|') IN {_ZONE_LIST}) > 0 "
        f"AND {alias}.ts_ms < {context.LOCAL_TIME_LIMIT_MS}"
    )
    utc_text = f"DATE_FORMAT(TO_TIMESTAMP_LTZ({alias}.ts_ms, 3), 'yyyy-MM-dd HH:mm:ss')"
    return known, f"CONVERT_TZ({utc_text}, 'UTC', {zone})"


def _local_day(local: str) -> str:
    return f"DAYOFWEEK(CAST(SUBSTR({local}, 1, 10) AS DATE))"


def local_time_sql(alias: str) -> tuple[str, str, str]:
    """Return SQL for (the row has a known zone, local minute of day, local DAYOFWEEK).

    The minute and day are meaningful only where the first is TRUE.
    """
    known, local = _local_text(alias)
    minute = f"(CAST(SUBSTR({local}, 12, 2) AS INT) * 60 + CAST(SUBSTR({local}, 15, 2) AS INT))"
    return known, minute, _local_day(local)


def _local_time(condition: LocalTime, alias: str) -> str:
    window = condition.local_time
    known, local = _local_text(alias)
    # Zero-padded 'HH:MM' texts order like minutes of the day, and each comparison converts
    # the time once (Flink evaluates every occurrence of an expression).
    clock = f"SUBSTR({local}, 12, 5)"
    start, end = quote(window.start), quote(window.end)
    if window.start < window.end:
        inside = f"{clock} >= {start} AND {clock} < {end}"
    else:
        inside = f"({clock} >= {start} OR {clock} < {end})"
    days = ""
    if window.days is not None:
        numbers = ", ".join(str(DAY_NUMBERS[d]) for d in window.days)
        days = f" AND {_local_day(local)} IN ({numbers})"
    return f"(CASE WHEN {known} THEN {inside}{days} ELSE FALSE END)"


def _store_distance(condition: StoreDistance, alias: str) -> str:
    spec = condition.store_distance
    column = f"{alias}.line"
    lat, lon = _number("properties.lat", column), _number("properties.lon", column)
    # The same IEEE-754 steps as context.squared_km, with the store's factors as literals.
    near = []
    for place in spec.locations:
        raw = f"({lon} - {_double(place.lon)})"
        dlon = (
            f"(CASE WHEN {raw} > 180.0E0 THEN {raw} - 360.0E0 "
            f"WHEN {raw} < -180.0E0 THEN {raw} + 360.0E0 ELSE {raw} END)"
        )
        dx = f"({dlon} * {_double(place.kx)})"
        dy = f"(({lat} - {_double(place.lat)}) * {_double(context.KM_PER_DEGREE)})"
        near.append(f"{dx} * {dx} + {dy} * {dy} <= {_double(spec.max_km * spec.max_km)}")
    valid = f"{lat} BETWEEN -90.0E0 AND 90.0E0 AND {lon} BETWEEN -180.0E0 AND 180.0E0"
    return f"COALESCE({valid} AND ({' OR '.join(near)}), FALSE)"


def _session_dwell(condition: SessionDwell, alias: str) -> str:
    bound = parse_duration_ms(condition.session_dwell.more_than)
    start = f"{alias}.session_start_ms"
    return f"COALESCE({alias}.ts_ms - {start} > {bound}, FALSE)"


def compile_condition(condition: Condition | None, alias: str) -> str:
    """Return SQL that is TRUE exactly when ``condition`` holds on row ``alias`` (never NULL).

    The row has the columns ``line`` and ``ts_ms``, ``session_start_ms`` when the condition
    uses session dwell, ``profile`` when it reads profile fields and ``score`` when it has a
    score condition.
    """
    if condition is None:
        return "TRUE"
    if isinstance(condition, Predicate):
        if condition.field.startswith(PROFILE_PREFIX):
            # profile.<name> is the field <name> of the anchor's profile (JSON text).
            field = condition.field.removeprefix(PROFILE_PREFIX)
            plain = condition.model_copy(update={"field": field})
            return f"COALESCE({_predicate(plain, f'{alias}.profile')}, FALSE)"
        return f"COALESCE({_predicate(condition, f'{alias}.line')}, FALSE)"
    if isinstance(condition, All):
        return "(" + " AND ".join(compile_condition(c, alias) for c in condition.all) + ")"
    if isinstance(condition, Any_):
        return "(" + " OR ".join(compile_condition(c, alias) for c in condition.any) + ")"
    if isinstance(condition, Not):
        return f"(NOT {compile_condition(condition.not_, alias)})"
    if isinstance(condition, LocalTime):
        return _local_time(condition, alias)
    if isinstance(condition, StoreDistance):
        return _store_distance(condition, alias)
    if isinstance(condition, SessionDwell):
        return _session_dwell(condition, alias)
    if isinstance(condition, Score):
        return f"COALESCE({alias}.score >= {_double(condition.score.gte)}, FALSE)"
    key = next(iter(type(condition).model_fields))
    msg = f"'{key}' conditions are not supported here"
    raise UnsupportedConditionError(msg)


class RuleCompileError(JourneyTriggersError):
    """A rule uses something the compiler does not support yet."""


def _pattern(pattern: EventPattern, alias: str) -> str:
    types = ", ".join(quote(t) for t in pattern.types)
    where = compile_condition(pattern.where, alias)
    return f"{alias}.event_type IN ({types}) AND {where}"


def _decision_select(rule: Rule, trigger_time_ms: str, explanation: str) -> str:
    """SELECT list of a decision anchored at alias ``a`` (the sink's column order)."""
    customer = customer_of("a.customer_key")
    key = f"CONCAT({quote(f'{rule.id}|{rule.version}|')}, {customer}, '|', a.event_id)"
    channels = ", ".join(quote(c) for c in rule.output.channels)
    if rule.output.payload:
        pairs = ", ".join(
            f"{quote(name)}, {field_text(source, 'a.line')}"
            for name, source in rule.output.payload.items()
        )
        payload = f"MAP[{pairs}]"
    else:
        payload = "CAST(NULL AS MAP<STRING, STRING>)"
    return f"""  {DECISION_SCHEMA_VERSION} AS schema_version,
  SUBSTR(SHA256({key}), 1, 32) AS decision_id,
  {customer} AS customer_id,
  {quote(rule.id)} AS rule_id,
  {rule.version} AS rule_version,
  {quote(STATUS_FIRED)} AS status,
  {utc(trigger_time_ms)} AS trigger_time,
  {trigger_time_ms} AS trigger_time_ms,
  {quote(rule.output.action)} AS action,
  ARRAY[{channels}] AS channels,
  {payload} AS payload,
  {cart_snapshot("a.line")} AS cart,
  {explanation} AS explanation"""


MARK = "\x00"
"""Placeholder for the anchor's values when a semantics summary is rendered as a SQL template."""


def _concat(template: str, values: list[str]) -> str:
    """Return SQL CONCAT of a summary rendered with MARK placeholders, filled with ``values``.

    The summary functions of the reference evaluator are the single source of the wording.
    """
    parts = template.split(MARK)
    assert len(parts) == len(values) + 1, (template, values)
    items: list[str] = []
    for part, value in zip(parts, [*values, None], strict=True):
        if part:
            items.append(quote(part))
        if value is not None:
            items.append(value)
    return f"CONCAT({', '.join(items)})"


def _insert(
    reads: Source,
    rule: Rule,
    kind: str,
    source: str,
    summary: str,
    window_ms: int | None,
    *,
    trigger_time: str = "a.ts_ms",
    where: str = "",
    absent_types: tuple[str, ...] = (),
    rowtime: str = "a.ts",
) -> str:
    """Return the SELECT of a rule's decisions from ``source``, whose anchor rows are ``a``."""
    window = (
        quote(format_duration_ms(window_ms)) if window_ms is not None else "CAST(NULL AS STRING)"
    )
    absent = (
        f"ARRAY[{', '.join(quote(t) for t in absent_types)}]"
        if absent_types
        else "CAST(NULL AS ARRAY<STRING>)"
    )
    explanation = (
        f"ROW({quote(kind)}, {summary}, a.event_id, a.event_type, {utc('a.ts_ms')}, "
        f"{window}, {absent})"
    )
    conditions = compile_condition(rule.conditions, "a")
    anchor = ""
    if reads.scored:
        # The scoring stage reads the anchor; rules with a score condition are decided there.
        anchor = ",\n  a.line, a.ts_ms, a.event_type, a.profile, a.session_start_ms"
        if uses_score(rule.conditions):
            conditions = "TRUE"
    if reads.catalog:
        # The catalog is joined at the candidate's event time, on the anchor's product: after
        # the rules for most kinds (``_with_product``), before the window for absence rules,
        # whose anchors arrive with it (``_catalog_anchors``).
        product = field_text("properties.product_id", "a.line")
        anchor += f",\n  {rowtime} AS rt, {product} AS product_id"
        if kind == "absence":
            anchor += ",\n  TRUE AS catalog_done, " + ", ".join(
                f"a.{PRE_CATALOG}{name}" for name, _ in CATALOG_COLUMNS
            )
        else:
            anchor += ",\n  FALSE AS catalog_done, " + ", ".join(
                f"CAST(NULL AS {sql_type}) AS {PRE_CATALOG}{name}"
                for name, sql_type in CATALOG_COLUMNS
            )
    if reads.policy:
        # What the decision policy reads of the trigger's context (``semantics.policy``).
        context = ", ".join(
            f"{field_text(name, 'a.line')} AS ctx_{name}"
            for name in ("time_zone", "device_type", "channel")
        )
        anchor += f",\n  {context}, a.ts_ms AS ctx_anchor_ms, {rule.priority} AS ctx_priority"
    return f"""SELECT
{_decision_select(rule, trigger_time, explanation)}{anchor}
FROM {source}
WHERE {where}{conditions}"""


ANCHOR = ["a.event_type", "a.event_id", utc("a.ts_ms")]


def _event_insert(rule: Rule, trigger: EventTrigger, source: Source) -> str:
    summary = _concat(event_summary(MARK, MARK, MARK), ANCHOR)
    return _insert(
        source,
        rule,
        "event",
        f"{source.table} a",
        summary,
        None,
        where=f"{_pattern(trigger.on, 'a')} AND ",
    )


def _absence_insert(rule: Rule, trigger: AbsenceTrigger, source: Source) -> str:
    window_ms = parse_duration_ms(trigger.within)
    deadline = f"a.ts_ms + {window_ms}"
    summary = _concat(absence_summary(trigger, MARK, MARK, MARK), ANCHOR)
    correlated = "".join(
        f"\n  AND {field_text(f, 'a.line')} = {field_text(f, 'b.line')}"
        for f in trigger.correlate_on
    )
    anchored = "".join(f" AND {field_text(f, 'a.line')} IS NOT NULL" for f in trigger.correlate_on)
    stoppers = f"({_pattern(trigger.absent, 'b')})"
    if trigger.latest_only:
        stoppers = (
            f"({stoppers} OR ({_pattern(trigger.anchor, 'b')} "
            "AND (b.ts_ms > a.ts_ms OR b.event_id > a.event_id)))"
        )
    events = source.table
    # The anchors enter the join in event-time order per customer, through an OVER aggregate
    # that releases them as the watermark passes (its count only keeps the planner from
    # pruning it). Flink's interval join times out a customer's cached anchors with one timer,
    # set by the first one to arrive: an anchor that arrived after a later one (an anonymous
    # event, which identity stitching holds until the watermark, behind a later known one)
    # waited for that later anchor's timer and came out hours behind the watermark, so the
    # policy stage decided without it (nondeterministic; measured 29 to 33 hours late).
    # With a catalog, the anchors are joined with it first (``_catalog_anchors``), then
    # ordered the same way.
    is_anchor = f"{_pattern(trigger.anchor, 'a')}{anchored}"
    if source.catalog:
        candidates, condition = _catalog_anchors(events, is_anchor), "TRUE"
    else:
        candidates, condition = events, is_anchor
    anchors = f"""(
  SELECT a.*, COUNT(*) OVER (PARTITION BY a.customer_key ORDER BY a.ts
    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS anchor_number
  FROM {candidates} a
  WHERE {condition}
)"""
    first = "a.anchor_number > 0"
    joined = f"""{anchors} a
LEFT JOIN {events} b
  ON a.customer_key = b.customer_key
  AND b.ts BETWEEN a.ts AND a.ts + {interval(window_ms)}{correlated}
  AND {stoppers}"""
    where = f"{first}\n  AND b.event_id IS NULL\n  AND "
    return _insert(
        source,
        rule,
        "absence",
        joined,
        summary,
        window_ms,
        trigger_time=deadline,
        where=where,
        absent_types=trigger.absent.types,
    )


class Source(NamedTuple):
    """What a rule's SELECT reads.

    The events table, its extra columns, and whether the decisions go on to the scoring stage
    (which needs the anchor's columns, and decides the rules with a score condition itself).
    """

    table: str
    extra: str
    scored: bool = False
    catalog: bool = False
    policy: bool = False


SESSION_COLUMNS = ", session_start_ms"
PROFILE_COLUMNS = ", session_start_ms, profile"


def _events(rule: Rule, scored: bool, catalog: bool, policy: bool) -> Source:
    """Return what a rule reads (see :class:`Source`)."""
    conditions = conditions_of(rule)
    if scored or any(uses_profile(c) for c in conditions):
        return Source(EVENTS_PROFILE, PROFILE_COLUMNS, scored, catalog, policy)
    if any(uses_session(c) for c in conditions):
        return Source(EVENTS_CONTEXT, SESSION_COLUMNS, False, catalog, policy)
    return Source(EVENTS, "", False, catalog, policy)


def _anchor_key(prefix: str, extra: str) -> str:
    """Return SQL for the key ``prefix NUL [profile NUL] line [NUL session start]`` of an anchor.

    NUL sorts below every character and appears in no valid event id, record or profile (JSON
    escapes it), so keys order like (prefix, line): the profile is the same for every event of a
    customer's millisecond, and the session start, padded to 16 characters, only rides along.
    """
    tail = ", CHR(0), LPAD(COALESCE(CAST(session_start_ms AS STRING), ''), 16, '#')"
    profile = "profile, CHR(0), " if extra == PROFILE_COLUMNS else ""
    return f"CONCAT({prefix}, CHR(0), {profile}line{tail if extra else ''})"


def _anchor_columns(key: str, extra: str) -> str:
    """Return SQL for ``event_id, line`` and the ``extra`` columns of :func:`_anchor_key` keys."""
    cut = f"POSITION(CHR(0) IN {key})"
    rest = f"SUBSTR({key}, {cut} + 1)"
    columns = f"SUBSTR({key}, 1, {cut} - 1) AS event_id"
    if not extra:
        return f"{columns}, {rest} AS line"
    if extra == PROFILE_COLUMNS:
        cut_profile = f"POSITION(CHR(0) IN {rest})"
        columns += f", SUBSTR({rest}, 1, {cut_profile} - 1) AS profile"
        rest = f"SUBSTR({rest}, {cut_profile} + 1)"
    start = f"NULLIF(TRIM(LEADING '#' FROM SUBSTR({rest}, CHAR_LENGTH({rest}) - 15)), '')"
    return (
        f"{columns}, SUBSTR({rest}, 1, CHAR_LENGTH({rest}) - 17) AS line, "
        f"CAST({start} AS BIGINT) AS session_start_ms"
    )


def _inactivity_insert(rule: Rule, trigger: InactivityTrigger, source: Source) -> str:
    gap = parse_duration_ms(trigger.gap)
    delay = parse_duration_ms(trigger.delay) if trigger.delay != "0ms" else 0
    # The session's last event, chosen without arrival order: the greatest key of
    # (timestamp, event_id, NUL, raw record); NUL sorts below every character, so the key orders
    # like (ts, event_id, raw), and the ingest rejects ids that contain it.
    events, extra = source.table, source.extra
    prefix = "LPAD(CAST(ts_ms AS STRING), 15, '0'), event_id"
    last_key = f"MAX({_anchor_key(prefix, extra)})"
    during = "1"
    if trigger.while_ is not None:
        during = f"SUM(CASE WHEN {_pattern(trigger.while_, 'e')} THEN 1 ELSE 0 END)"
    sessions = f"""SELECT customer_key, {last_key} AS last_key, {during} AS during,
    window_time AS rt
  FROM TABLE(SESSION(TABLE {events} PARTITION BY customer_key, DESCRIPTOR(ts), {interval(gap)})) e
  GROUP BY customer_key, window_start, window_end, window_time"""
    last = f"""SELECT customer_key, rt,
    CAST(SUBSTR(last_key, 1, 15) AS BIGINT) AS ts_ms,
    {_anchor_columns("SUBSTR(last_key, 16)", extra)}
  FROM ({sessions}) s
  WHERE during > 0"""
    anchored = f"""SELECT customer_key, ts_ms, event_id, line{extra}, rt,
    JSON_VALUE(line, '$.event_type') AS event_type
  FROM ({last}) l"""
    summary = _concat(inactivity_summary(trigger, MARK, MARK, MARK), ANCHOR)
    return _insert(
        source,
        rule,
        "inactivity",
        f"({anchored}) a",
        summary,
        gap,
        trigger_time=f"a.ts_ms + {gap + delay}",
        rowtime="a.rt",
    )


def _count_insert(rule: Rule, trigger: CountTrigger, source: Source) -> str:
    window = parse_duration_ms(trigger.within)
    events, extra = source.table, source.extra
    groups = [field_text(f, "line") for f in trigger.group_by]
    group_columns = "".join(f", {g} AS g{i}" for i, g in enumerate(groups))
    group_by = "".join(f", {g}" for g in groups)
    partition = "".join(f", g{i}" for i in range(len(groups)))
    valued = "".join(f" AND {g} IS NOT NULL" for g in groups)
    # 1. The matching events of each millisecond, per customer and group (peers counted
    #    together; the anchor is the greatest event_id, raw record).
    peers = f"""SELECT customer_key{group_columns}, window_time AS wt, COUNT(*) AS cnt,
      MAX(ts_ms) AS ts_ms, MAX({_anchor_key("event_id", extra)}) AS top_key
    FROM TABLE(TUMBLE(TABLE {events}, DESCRIPTOR(ts), INTERVAL '0.001' SECOND)) e
    WHERE {_pattern(trigger.on, "e")}{valued}
    GROUP BY customer_key{group_by}, window_start, window_end, window_time"""
    # 2. The count over [T - within, T] (Flink's RANGE frame includes both ends).
    counted = f"""SELECT customer_key, ts_ms, cnt, top_key, wt,
      SUM(cnt) OVER (PARTITION BY customer_key{partition} ORDER BY wt
        RANGE BETWEEN {interval(window)} PRECEDING AND CURRENT ROW) AS c_at
    FROM ({peers}) p"""
    # 3. The milliseconds whose events bring the count from below at_least to at_least or more.
    crossing = f"""SELECT customer_key, ts_ms, c_at, wt, {_anchor_columns("top_key", extra)}
    FROM ({counted}) c
    WHERE c_at >= {trigger.at_least} AND c_at - cnt < {trigger.at_least}"""
    anchored = f"""SELECT customer_key, ts_ms, c_at, wt, event_id, line{extra},
      JSON_VALUE(line, '$.event_type') AS event_type
    FROM ({crossing}) x"""
    summary = _concat(
        count_summary(trigger, MARK, MARK, MARK, MARK), [*ANCHOR, "CAST(a.c_at AS STRING)"]
    )
    return _insert(source, rule, "count", f"({anchored}) a", summary, window, rowtime="a.wt")


def _sequence_insert(rule: Rule, trigger: SequenceTrigger, source: Source) -> str:
    within = parse_duration_ms(trigger.within)
    variables = sequence_variables(trigger)
    names = [f"S{step}_{repetition}" for step, repetition in variables]
    groups = [field_text(f, "line") for f in trigger.same]
    group_columns = "".join(f", {g} AS g{i}" for i, g in enumerate(groups))
    partition = "".join(f", g{i}" for i in range(len(groups)))
    valued = "".join(f" AND {g} IS NOT NULL" for g in groups)
    # Only events that match some step take part: the fillers Z<i> match any row, so dropping
    # the others changes no match, and MATCH_RECOGNIZE buffers and sorts far fewer rows.
    steps = " OR ".join(f"({_pattern(step.on, 'e')})" for step in trigger.steps)
    defines = []
    for index, ((step_index, repetition), name) in enumerate(zip(variables, names, strict=True)):
        step = trigger.steps[step_index]
        define = _pattern(step.on, name)
        if repetition == 0 and step.min_gap is not None:
            previous = names[index - 1]
            gap = parse_duration_ms(step.min_gap)
            define += f" AND {name}.ts_ms >= LAST({previous}.ts_ms) + {gap}"
        defines.append(f"{name} AS {define}")
    define_list = ",\n        ".join(defines)
    first, last = names[0], names[-1]
    # The fillers Z<i> are left undefined, so they match any row: other events may come between
    # the steps; Z<i>*? is reluctant, so every step is taken as early as it can be.
    # (Flink wants each pattern variable once, hence one filler per gap: Z0, Z1, ...)
    pattern = names[0] + "".join(f" Z{i}*? {name}" for i, name in enumerate(names[1:]))
    events, extra = source.table, source.extra
    carried = "".join(
        f",\n        LAST({last}.{column}) AS {column}" for column in extra.split(", ")[1:]
    )
    matched = f"""SELECT customer_key, event_id, event_type, ts_ms, line{extra},
      first_id, first_type, first_ts_ms, rt
    FROM (SELECT customer_key, event_id, event_type, ts, ts_ms, line{extra}{group_columns}
          FROM {events} e WHERE ({steps}){valued})
    MATCH_RECOGNIZE (
      PARTITION BY customer_key{partition}
      ORDER BY ts, event_id, line
      MEASURES
        LAST({last}.event_id) AS event_id,
        LAST({last}.event_type) AS event_type,
        LAST({last}.ts_ms) AS ts_ms,
        LAST({last}.line) AS line,
        FIRST({first}.event_id) AS first_id,
        FIRST({first}.event_type) AS first_type,
        FIRST({first}.ts_ms) AS first_ts_ms,
        MATCH_ROWTIME() AS rt{carried}
      ONE ROW PER MATCH
      AFTER MATCH SKIP PAST LAST ROW
      PATTERN ({pattern}) WITHIN {interval(within)}
      DEFINE
        {define_list}
    ) m"""
    summary = _concat(
        sequence_summary(trigger, (MARK,) * 3, (MARK,) * 3),
        [*ANCHOR, "a.first_type", "a.first_id", utc("a.first_ts_ms")],
    )
    return _insert(source, rule, "sequence", f"({matched}) a", summary, within, rowtime="a.rt")


def _recency_insert(rule: Rule, trigger: RecencyTrigger, source: Source) -> str:
    spec = trigger.since_last
    kinds = (spec.event,) if isinstance(spec.event, str) else tuple(spec.event)
    history_types = ", ".join(quote(k) for k in kinds)
    bound = spec.more_than or spec.less_than
    assert bound is not None
    bound_ms = parse_duration_ms(bound)
    if spec.more_than is not None:
        holds = f"(a.last_ms IS NULL OR a.ts_ms - a.last_ms > {bound_ms})"
    else:
        holds = f"(a.last_ms IS NOT NULL AND a.ts_ms - a.last_ms <= {bound_ms})"
    # RANGE (not ROWS) so that events in the same millisecond are all in the history: the
    # result does not depend on their arrival order.
    events, extra = source.table, source.extra
    with_history = f"""SELECT customer_key, event_id, event_type, ts, ts_ms, line{extra},
      MAX(CASE WHEN event_type IN ({history_types}) THEN ts_ms END) OVER (
        PARTITION BY customer_key ORDER BY ts
        RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_ms
    FROM {events}
    WHERE event_type IN ({", ".join(quote(t) for t in (*trigger.on.types, *kinds))})"""
    last_text = (
        f"CASE WHEN a.last_ms IS NULL THEN 'none' ELSE CONCAT('at ', {utc('a.last_ms')}) END"
    )
    summary = _concat(recency_summary(trigger, (MARK,) * 3, MARK), [*ANCHOR, last_text])
    where = f"{_pattern(trigger.on, 'a')} AND {holds}\n  AND "
    return _insert(source, rule, "recency", f"({with_history}) a", summary, bound_ms, where=where)


def _trend_insert(rule: Rule, trigger: TrendTrigger, source: Source) -> str:
    window = parse_duration_ms(trigger.window)
    half = window // 2
    # Flink computes one frame per OVER, so the two counts are nested; RANGE frames include both
    # ends and every event of the same millisecond.
    events, extra = source.table, source.extra
    recent = f"""SELECT customer_key, event_id, event_type, ts, ts_ms, line{extra},
      COUNT(*) OVER (PARTITION BY customer_key ORDER BY ts
        RANGE BETWEEN {interval(half)} PRECEDING AND CURRENT ROW) AS recent
    FROM {events} e
    WHERE {_pattern(trigger.on, "e")}"""
    both = f"""SELECT customer_key, event_id, event_type, ts, ts_ms, line{extra}, recent,
      COUNT(*) OVER (PARTITION BY customer_key ORDER BY ts
        RANGE BETWEEN {interval(window)} PRECEDING AND CURRENT ROW) - recent AS previous
    FROM ({recent}) r"""
    summary = _concat(
        trend_summary(trigger, (MARK,) * 3, (MARK, MARK)),
        [*ANCHOR, "CAST(a.recent AS STRING)", "CAST(a.previous AS STRING)"],
    )
    where = f"a.recent >= {trigger.min_recent} AND a.recent > a.previous\n  AND "
    return _insert(source, rule, "trend", f"({both}) a", summary, window, where=where)


_COMPILERS: dict[type, Callable[[Rule, Any, Source], str]] = {
    EventTrigger: _event_insert,
    AbsenceTrigger: _absence_insert,
    InactivityTrigger: _inactivity_insert,
    CountTrigger: _count_insert,
    SequenceTrigger: _sequence_insert,
    RecencyTrigger: _recency_insert,
    TrendTrigger: _trend_insert,
}


PROPENSITY_FUNCTION = "jt_propensity"
"""The scoring UDF's name in the job's SQL (``udfs/scoring.py``)."""


def compile_select(
    rule: Rule, *, scored: bool = False, catalog: bool = False, policy: bool = False
) -> str:
    """Return the SELECT of ``rule``'s candidate decisions; raise RuleCompileError if unsupported.

    ``scored`` makes the rule read the profiled events and carry its anchor's columns, for the
    scoring stage of :func:`compile_rules`.
    """
    try:
        if any(uses_score(c) for c in conditions_of(rule.trigger)):
            msg = "score conditions go in the rule's conditions, not in an event pattern"
            raise UnsupportedConditionError(msg)
        if uses_score(rule.conditions) and not scored:
            msg = "it has a score condition: run the job with a model (--model)"
            raise UnsupportedConditionError(msg)
        source = _events(rule, scored, catalog, policy)
        return _COMPILERS[type(rule.trigger)](rule, rule.trigger, source)
    except UnsupportedConditionError as err:
        msg = f"rule '{rule.id}': {err}"
        raise RuleCompileError(msg) from err


def compile_rule(rule: Rule) -> str:
    """Return the INSERT that runs ``rule`` alone, without a model (``explain`` prints it)."""
    return compile_rules([rule])


_DECISION_COLUMNS = (
    "schema_version, decision_id, customer_id, rule_id, rule_version, status, trigger_time, "
    "trigger_time_ms, action, channels, payload, cart, explanation"
)


CATALOG_COLUMNS = (
    ("product_id", "STRING"),
    ("category", "STRING"),
    ("price", "DOUBLE"),
    ("margin_tier", "STRING"),
    ("version_ms", "BIGINT"),
)
"""The catalog's columns a decision's product is built from (``catalog_<name>``)."""
PRE_CATALOG = "pre_catalog_"


def _catalog_anchors(events: str, is_anchor: str) -> str:
    """Return the anchors of an absence rule, each joined with its product's catalog version.

    Joined at the anchor, before the window: the candidate itself leaves the interval join only
    when its window closes, with its anchor's time, by which point the temporal join's
    watermark may have passed a newer version of the product, and Flink's temporal join keeps
    only the latest version at or before its watermark. (Measured on a live job: a cart at
    minute 30, a new price at minute 40, the next event at minute 45 on its own: the cart was
    decided with no price in every run.) The anchors reach this join on time.
    """
    product = field_text("properties.product_id", "a.line")
    columns = ", ".join(f"p.{name} AS {PRE_CATALOG}{name}" for name, _ in CATALOG_COLUMNS)
    return f"""(
  SELECT a.*, {columns}
  FROM {events} a
  LEFT JOIN {CATALOG} FOR SYSTEM_TIME AS OF a.ts AS p
    ON {product} = p.product_id
  WHERE {is_anchor}
)"""


def _enriched(union: str) -> str:
    """Return the candidates joined with the catalog version in effect at their event time."""
    columns = ", ".join(f"p.{name} AS catalog_{name}" for name, _ in CATALOG_COLUMNS)
    return f"""SELECT u.*, {columns}
    FROM (
{union}
    ) u
    LEFT JOIN {CATALOG} FOR SYSTEM_TIME AS OF u.rt AS p
      ON u.product_id = p.product_id"""


def _product(alias: str) -> str:
    """Return SQL for the decision's ``product`` ROW from an enriched candidate row.

    Only for rows whose anchor has a product id: Flink's planner mishandles ROW values in
    CASE (validation fails, or every row becomes NULL), so :func:`_with_product` splits the
    candidates instead.
    """
    known = f"{alias}.catalog_product_id IS NOT NULL"
    version = f"CASE WHEN {known} THEN {utc(f'{alias}.catalog_version_ms')} END"
    row = (
        f"ROW({alias}.product_id, {known}, {alias}.catalog_category, {alias}.catalog_price, "
        f"{alias}.catalog_margin_tier, {version})"
    )
    return f"CAST({row} AS {PRODUCT_SQL_TYPE})"


def _with_product(
    select: str, source: str, where: str, catalog: bool, product: str | None = None
) -> str:
    """Return ``select`` (with a ``{product}`` placeholder) from ``source`` aliased ``g``.

    With a catalog, candidates whose anchor has no product id get a NULL product; the others
    are joined with the catalog and get its ROW, except absence candidates, whose anchors were
    joined with it before their window (``catalog_done``): three branches of one UNION ALL
    over the same candidates (the planner computes them once).
    """
    null = f"CAST(NULL AS {PRODUCT_SQL_TYPE})"
    if product is not None:  # the candidates carry it
        return f"{select.format(product=f'g.{product}')}\nFROM (\n{source}\n) g\nWHERE {where}"
    if not catalog:
        return f"{select.format(product=null)}\nFROM (\n{source}\n) g\nWHERE {where}"
    with_product = f"SELECT * FROM (\n{source}\n) x WHERE x.product_id IS NOT NULL"
    to_join = f"{with_product} AND NOT x.catalog_done"
    joined = ", ".join(f"x.{PRE_CATALOG}{name} AS catalog_{name}" for name, _ in CATALOG_COLUMNS)
    done = (
        f"SELECT x.*, {joined} FROM (\n{source}\n) x "
        "WHERE x.product_id IS NOT NULL AND x.catalog_done"
    )
    branches = [
        f"{select.format(product=null)}\nFROM (\n{source}\n) g\n"
        f"WHERE ({where}) AND g.product_id IS NULL",
        f"{select.format(product=_product('g'))}\nFROM (\n{_enriched(to_join)}\n) g\nWHERE {where}",
        f"{select.format(product=_product('g'))}\nFROM (\n{done}\n) g\nWHERE {where}",
    ]
    return "\nUNION ALL\n".join(branches)


CONTEXT_COLUMNS = (
    "ctx_time_zone",
    "ctx_device_type",
    "ctx_channel",
    "ctx_anchor_ms",
    "ctx_priority",
)
"""The trigger context the policy stage reads, after the decision columns."""


def compile_rules(
    rules: Sequence[Rule], *, model_version: str | None = None, catalog: bool = False
) -> str:
    """Return ONE INSERT of every rule's decisions: a UNION ALL into a single sink.

    One sink, not one per rule: Kafka's exactly-once sink needs a transactional-id prefix per
    sink instance, and one writer per sink keeps output files and transactions few.

    With a ``catalog``, every candidate is joined with the catalog version of its anchor's
    product in effect at its event time (an event-time temporal join), and decisions carry
    it. With a model (``model_version``), the candidates go through the scoring UDF (Arrow
    batches of the small candidate stream), then the rules with a score condition are decided
    on the scored candidates; every decision carries the score, the model version and the
    features. Without them, those columns are NULL.
    """
    return f"INSERT INTO {DECISIONS_SINK}\n" + decisions_query(
        rules, model_version=model_version, catalog=catalog
    )


def decisions_query(
    rules: Sequence[Rule],
    *,
    model_version: str | None = None,
    catalog: bool = False,
    policy: bool = False,
) -> str:
    """Return the query of every rule's decisions (see :func:`compile_rules`).

    With ``policy``, each row also carries the trigger's context (:data:`CONTEXT_COLUMNS`)
    for the policy stage, which decides what becomes of it.
    """
    scored = model_version is not None
    union = "\nUNION ALL\n".join(
        f"(\n{compile_select(r, scored=scored, catalog=catalog, policy=policy)}\n)" for r in rules
    )
    return decide_candidates(
        union, rules, model_version=model_version, catalog=catalog, policy=policy
    )


def decide_candidates(
    candidates: str,
    rules: Sequence[Rule],
    *,
    model_version: str | None = None,
    catalog: bool = False,
    policy: bool = False,
    product: str | None = None,
) -> str:
    """Return the decisions query over ``candidates``, the query of the rules' candidates.

    Its rows have the decision columns up to ``explanation``; with a model, also the anchor's
    ``line``, ``ts_ms``, ``event_type``, ``profile`` and ``session_start_ms`` (the score
    conditions of the rules that have one are decided here, and every candidate is scored);
    with a catalog, what ``_with_product`` joins on; with ``policy``, :data:`CONTEXT_COLUMNS`.
    ``product`` names the candidates' own ``product`` column instead (the JVM engine's
    catalog lookup), which then needs no join.
    """
    scored = model_version is not None
    context = "".join(f", {c}" for c in CONTEXT_COLUMNS) if policy else ""
    if not scored:
        select = f"""SELECT {_DECISION_COLUMNS},
  CAST(NULL AS DOUBLE), CAST(NULL AS STRING), CAST(NULL AS {FEATURES_SQL_TYPE}),
  {{product}}"""
        return _with_product(select + context, candidates, "TRUE", catalog, product)
    assert model_version is not None
    features = ", ".join(f"g.s.`{name}`" for name in FEATURE_NAMES)
    gated = [r for r in rules if uses_score(r.conditions)]
    gates = " OR ".join(
        f"(g.rule_id = {quote(r.id)} AND {compile_condition(r.conditions, 'g')})" for r in gated
    )
    where = "TRUE"
    if gated:
        others = ", ".join(quote(r.id) for r in gated)
        where = f"g.rule_id NOT IN ({others}) OR {gates}"
    scored_candidates = f"""  SELECT c.*, c.s.score AS score
  FROM (
    SELECT u.*, {PROPENSITY_FUNCTION}(u.profile, u.event_type, u.ts_ms) AS s
    FROM (
{candidates}
    ) u
  ) c"""
    select = f"""SELECT {_DECISION_COLUMNS},
  g.score, {quote(model_version)}, CAST(ROW({features}) AS {FEATURES_SQL_TYPE}),
  {{product}}"""
    return _with_product(select + context, scored_candidates, where, catalog, product)
