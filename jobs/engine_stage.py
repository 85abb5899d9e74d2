"""The rule engine in the job (``--engine jvm``): every rule as data, in one keyed Java operator.

The prepared events (on time, identities stitched, with the session start and the profile
where a rule or the model reads them) leave the SQL as rows, and the Java steps of
``journeytriggers.engine.EngineStreams`` turn them into candidates: keyed by customer, each
customer's events evaluated in (ts, event_id, raw) order once the watermark passes them,
against the rule set's IR (:mod:`journey_triggers.rules.ir`). The candidates come back as a
table with the columns the SQL compiler's rules give (:func:`jobs.compile.decisions_query`),
so scoring, the policy stage and the sinks are the same for both engines.

What later stages read of a candidate's anchor event (the policy's context fields, the
profile the model scores, and for rules with a score condition the record and session start
the condition reads) travels with the anchor as one JSON text, ``extras``: the engine keeps it
with a pending anchor and hands it on untouched. Only what the job's configuration needs is
built, so a job without a model or a policy carries none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobs.compile import CONTEXT_COLUMNS, decide_candidates, field_text
from jobs.sql import (
    EVENTS,
    EVENTS_CONTEXT,
    EVENTS_PROFILE,
    EXPLANATION_SQL_TYPE,
    customer_of,
    quote,
    utc,
)
from journey_triggers.decisions import DECISION_SCHEMA_VERSION, STATUS_FIRED
from journey_triggers.rules.ir import lower, rule_set_json
from journey_triggers.semantics.conditions import (
    conditions_of,
    uses_profile,
    uses_score,
    uses_session,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyflink.table import StreamTableEnvironment

    from journey_triggers.rules.model import Rule

ENGINE_UID = "rule-engine"
"""The engine operator's uid and name (its input and output steps add ``-input``/``-output``)."""
ENGINE_CANDIDATES = "jt_engine_candidates"
"""The view of the engine's candidates (columns: ``EngineStreams.OUTPUT_COLUMNS``)."""
POLICY_CONTEXT = ("time_zone", "device_type", "channel")
"""The anchor's fields the decision policy reads (``semantics.policy``)."""


def _extras(rules: Sequence[Rule], *, scored: bool, policy: bool) -> list[tuple[str, str]]:
    """Return the (name, SQL over an events row) pairs an anchor carries for later stages."""
    pairs: list[tuple[str, str]] = []
    if policy:
        pairs.extend((name, field_text(name, "line")) for name in POLICY_CONTEXT)
    if scored:
        pairs.append(("profile", "profile"))
        if any(uses_score(r.conditions) for r in rules):
            # A score condition is decided on the scored candidate, from its anchor's columns.
            pairs.append(("line", "line"))
            pairs.append(("session_start_ms", "CAST(session_start_ms AS STRING)"))
    return pairs


def engine_inputs_query(rules: Sequence[Rule], *, scored: bool, policy: bool) -> str:
    """Return the query of the engine's input rows (``EngineStreams.INPUT_COLUMNS``).

    It reads the least prepared events table that has what the rules and the model use, and
    only the event types some rule reads (every type if one rule reads every event).
    """
    conditions = [c for r in rules for c in conditions_of(r)]
    if scored or any(uses_profile(c) for c in conditions):
        table, session, profile = EVENTS_PROFILE, "session_start_ms", "profile"
    elif any(uses_session(c) for c in conditions):
        table, session, profile = EVENTS_CONTEXT, "session_start_ms", "CAST(NULL AS STRING)"
    else:
        table, session, profile = EVENTS, "CAST(NULL AS BIGINT)", "CAST(NULL AS STRING)"
    rule_profile = any(uses_profile(c) for c in conditions)
    extras = _extras(rules, scored=scored, policy=policy)
    if extras:
        entries = ", ".join(f"KEY {quote(name)} VALUE {value}" for name, value in extras)
        extras_sql = f"JSON_OBJECT({entries} NULL ON NULL)"
    else:
        extras_sql = "CAST(NULL AS STRING)"
    reads: set[str] = set()
    for rule in rules:
        read = lower(rule).reads
        if read is None:
            reads = set()
            break
        reads.update(read)
    where = ""
    if reads:
        where = f"\nWHERE event_type IN ({', '.join(quote(t) for t in sorted(reads))})"
    return f"""SELECT customer_key, {customer_of("customer_key")} AS customer_id, ts_ms, event_id,
  event_type, line, {session} AS session_start_ms,
  {profile if rule_profile else "CAST(NULL AS STRING)"} AS profile, {extras_sql} AS extras
FROM {table}{where}"""


def register_engine_candidates(
    t_env: StreamTableEnvironment, rules: Sequence[Rule], *, scored: bool, policy: bool
) -> None:
    """Run the rules in the engine; register its candidates as :data:`ENGINE_CANDIDATES`.

    The candidates' rowtime is their trigger time, and the engine's watermarks come with them.
    """
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway
    from pyflink.table import DataTypes, Schema

    inputs = t_env.sql_query(engine_inputs_query(rules, scored=scored, policy=policy))
    j_rows = t_env.to_data_stream(inputs)._j_data_stream
    engine = get_gateway().jvm.journeytriggers.engine.EngineStreams
    j_candidates = engine.candidates(j_rows, rule_set_json(list(rules)), scored, ENGINE_UID)
    schema = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    table = t_env.from_data_stream(DataStream(j_candidates), schema)
    t_env.create_temporary_view(ENGINE_CANDIDATES, table)


def _extra(name: str) -> str:
    return f"JSON_VALUE(extras, {quote('$.' + name)})"


def engine_decisions_query(
    rules: Sequence[Rule], *, model_version: str | None, policy: bool
) -> str:
    """Return the query of the decisions from :data:`ENGINE_CANDIDATES`.

    The columns of :func:`jobs.compile.decisions_query`: scored, gated by score conditions and
    with the policy's context as there.
    """
    explanation = (
        "CAST(ROW(kind, summary, anchor_event_id, anchor_event_type, anchor_time, `window`, "
        f"absent_event_types) AS {EXPLANATION_SQL_TYPE})"
    )
    columns = [
        f"{DECISION_SCHEMA_VERSION} AS schema_version",
        "decision_id",
        "customer_id",
        "rule_id",
        "rule_version",
        f"{quote(STATUS_FIRED)} AS status",
        f"{utc('trigger_time_ms')} AS trigger_time",
        "trigger_time_ms",
        "action",
        "channels",
        "payload",
        "cart",
        f"{explanation} AS explanation",
    ]
    if model_version is not None:
        columns += [
            f"{_extra('line')} AS line",
            "anchor_ts_ms AS ts_ms",
            "anchor_event_type AS event_type",
            # The profile is JSON_OBJECT's output, so JSON_OBJECT nests it as an object.
            "JSON_QUERY(extras, '$.profile') AS profile",
            f"CAST({_extra('session_start_ms')} AS BIGINT) AS session_start_ms",
        ]
    if policy:
        priorities = " ".join(f"WHEN {quote(r.id)} THEN {r.priority}" for r in rules)
        context: dict[str, Any] = {
            **{f"ctx_{name}": _extra(name) for name in POLICY_CONTEXT},
            "ctx_anchor_ms": "anchor_ts_ms",
            "ctx_priority": f"CASE rule_id {priorities} END",
        }
        assert tuple(context) == CONTEXT_COLUMNS
        columns += [f"{value} AS {name}" for name, value in context.items()]
    candidates = "SELECT " + ",\n  ".join(columns) + f"\nFROM {ENGINE_CANDIDATES}"
    return decide_candidates(
        candidates, rules, model_version=model_version, catalog=False, policy=policy
    )
