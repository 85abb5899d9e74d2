"""The rule engine in the job: every rule as data, in one keyed Java operator.

The prepared events (on time, identities stitched, with the session start and the profile)
leave the SQL as rows, and the Java steps of
``journeytriggers.engine.EngineStreams`` turn them into candidates: keyed by customer, each
customer's events evaluated in (ts, event_id, raw) order once the watermark passes them,
against the rule set's IR (:mod:`journey_triggers.rules.ir`). The candidates come back as a
table (:func:`engine_decisions_query`) for scoring, the policy stage and the sinks.

What later stages read of a candidate's anchor event (the policy's context fields, the
profile the model scores, and for rules with a score condition the record and session start
the condition reads) travels with the anchor as one JSON text, ``extras``: the engine keeps it
with a pending anchor and hands it on untouched. Only what the job's configuration needs is
built, so a job without a model, a policy or a catalog carries none.

Rules are data here: nothing in the job graph depends on them but the engine's constructor
argument and the filters and expressions inside operators, so a job resumed from a savepoint
with other rules restores every operator's state (``tests/integration/test_rule_changes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.jvm_streams import through_java
from jobs.sql import (
    CONTEXT_COLUMNS,
    DECISION_FIELDS,
    EVENTS_PROFILE,
    EXPLANATION_SQL_TYPE,
    FEATURES_SQL_TYPE,
    PRODUCT_SQL_TYPE,
    RULE_REJECTS,
    RULES_CONTROL,
    catalog_records_query,
    control_ddl,
    customer_of,
    field_text,
    quote,
    utc,
)
from journey_triggers.decisions import DECISION_SCHEMA_VERSION, STATUS_FIRED
from journey_triggers.rules.changes import LIVE_CATALOG_RETENTION_MS, catalog_wait_ms
from journey_triggers.rules.ir import lower, rule_set_json
from udfs.features import FEATURE_NAMES
from udfs.scoring import PROPENSITY_FUNCTION

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyflink.table import StreamTableEnvironment, Table

    from jobs.specs import KafkaSourceSpec
    from journey_triggers.rules.model import Rule

ENGINE_UID = "rule-engine"
"""The engine operator's uid and name (its input and output steps add ``-input``/``-output``)."""
ENGINE_CANDIDATES = "jt_engine_candidates"
"""The view of the engine's candidates (columns: ``EngineStreams.OUTPUT_COLUMNS``)."""
POLICY_CONTEXT = ("time_zone", "device_type", "channel")
"""The anchor's fields the decision policy reads (``semantics.policy``)."""


def _extras(*, scored: bool, policy: bool, catalog: bool) -> list[tuple[str, str]]:
    """Return the (name, SQL over an events row) pairs an anchor carries for later stages.

    They depend on the job's configuration only, never on its rules, so that a rule change
    leaves the job graph as it was (see :func:`engine_inputs_query`).
    """
    pairs: list[tuple[str, str]] = []
    if catalog:
        pairs.append(("product_id", field_text("properties.product_id", "line")))
    if policy:
        pairs.extend((name, field_text(name, "line")) for name in POLICY_CONTEXT)
    if scored:
        # The profile the model scores; the record and session start that a rule's score
        # condition reads, decided on the scored candidate.
        pairs.append(("profile", "profile"))
        pairs.append(("line", "line"))
        pairs.append(("session_start_ms", "CAST(session_start_ms AS STRING)"))
    return pairs


def engine_inputs_query(
    rules: Sequence[Rule],
    *,
    scored: bool,
    policy: bool,
    catalog: bool = False,
    every_event: bool = False,
) -> str:
    """Return the query of the engine's input rows (``EngineStreams.INPUT_COLUMNS``).

    Every event the rules can read, with its session start and profile: the profile is
    computed whether or not a rule reads it today, so that a rule that starts reading it
    finds it complete, and so that the job graph (whose operators' state a savepoint holds)
    does not depend on the rules. The rules only choose the event types let through, in the
    same operator; with ``every_event`` (rules that change live), every event goes through.
    """
    extras = _extras(scored=scored, policy=policy, catalog=catalog)
    if extras:
        entries = ", ".join(f"KEY {quote(name)} VALUE {value}" for name, value in extras)
        extras_sql = f"JSON_OBJECT({entries} NULL ON NULL)"
    else:
        extras_sql = "CAST(NULL AS STRING)"
    reads: set[str] = set()
    for rule in [] if every_event else rules:
        read = lower(rule).reads
        if read is None:
            reads = set()
            break
        reads.update(read)
    where = ""
    if reads:
        where = f"\nWHERE event_type IN ({', '.join(quote(t) for t in sorted(reads))})"
    return f"""SELECT customer_key, {customer_of("customer_key")} AS customer_id, ts_ms, event_id,
  event_type, line, session_start_ms, profile, {extras_sql} AS extras
FROM {EVENTS_PROFILE}{where}"""


def register_engine_candidates(
    t_env: StreamTableEnvironment,
    rules: Sequence[Rule],
    *,
    scored: bool,
    policy: bool,
    catalog: bool = False,
    name: str = ENGINE_UID,
    state_ttl_ms: int = 0,
    bounded: bool = False,
    changes: RuleChanges | None = None,
) -> str:
    """Run the rules in the engine; register its candidates as a view and return its name.

    ``name`` is the engine operator's uid (each engine of a job has its own); the view is
    :data:`ENGINE_CANDIDATES` with the part of ``name`` after :data:`ENGINE_UID` appended.

    The candidates' rowtime is their trigger time, and the engine's watermarks come with them.
    With a ``catalog`` (:data:`jobs.sql.CATALOG_SOURCE` registered), each also carries the
    catalog version of its anchor's product at its event time (:func:`_with_catalog`).
    With ``changes`` (the rules control topic), the rules change live (:func:`_controlled`).
    """
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway
    from pyflink.table import DataTypes, Schema

    query = engine_inputs_query(
        rules, scored=scored, policy=policy, catalog=catalog, every_event=changes is not None
    )
    j_rows = t_env.to_data_stream(t_env.sql_query(query))._j_data_stream
    engine = get_gateway().jvm.journeytriggers.engine.EngineStreams
    ir = rule_set_json(list(rules))
    wait = catalog_wait(rules)
    if changes is None:
        j_candidates = engine.candidates(j_rows, ir, scored, state_ttl_ms, name)
    else:
        j_candidates = _controlled(t_env, j_rows, ir, scored, state_ttl_ms, name, changes)
        wait = max(wait, LIVE_CATALOG_RETENTION_MS)
    if catalog:
        j_candidates = _with_catalog(t_env, j_candidates, wait, name, bounded)
    schema = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    table = t_env.from_data_stream(DataStream(j_candidates), schema)
    view = ENGINE_CANDIDATES + name.removeprefix(ENGINE_UID).replace("-", "_")
    t_env.create_temporary_view(view, table)
    return view


CATALOG_UID = "catalog-lookup"
"""The catalog lookup's uid and name (``EngineStreams.withCatalog``)."""


def catalog_wait(rules: Sequence[Rule]) -> int:
    """Return how long after its event time the rules' latest candidate can be emitted.

    A candidate's event time is its anchor's, or an inactivity session's end; it is emitted up
    to an absence's window or an inactivity rule's delay and 1 ms later
    (:func:`journey_triggers.rules.changes.catalog_wait_ms`). The catalog lookup keeps the
    versions that long behind its watermark.
    """
    return max((catalog_wait_ms(rule) for rule in rules), default=0)


@dataclass(frozen=True)
class RuleChanges:
    """The rules control topic as the engine reads it (:func:`register_rule_changes`)."""

    valid: Table
    """The valid changes: change, src, src_partition, src_offset, raw, effective_ms."""
    whole: bool
    """Read to its end before any event passes (a bounded run), or live (holding nothing back)."""


def register_rule_changes(
    t_env: StreamTableEnvironment,
    spec: KafkaSourceSpec,
    rules: Sequence[Rule],
    *,
    catalog: bool,
) -> RuleChanges:
    """Read the rules control topic ``spec``; return its valid changes.

    Each message is parsed on its own (``udfs.rule_changes``); the invalid ones become the view
    :data:`jobs.sql.RULE_REJECTS` (with the engine's own rejections, :func:`_controlled`).
    """
    from udfs.rule_changes import RULE_CHANGE_FUNCTION, rule_change_udf

    t_env.execute_sql(control_ddl(RULES_CONTROL, spec))
    retention = max(catalog_wait(rules), LIVE_CATALOG_RETENTION_MS) if catalog else None
    t_env.create_temporary_function(RULE_CHANGE_FUNCTION, rule_change_udf(retention, tuple(rules)))
    parsed = t_env.sql_query(
        f"""SELECT t.p.`change` AS `change`, src, src_partition, src_offset, line AS `raw`,
  t.p.effective_ms AS effective_ms, t.p.reason AS `reason`
FROM (SELECT *, {RULE_CHANGE_FUNCTION}(line, published_ms) AS p FROM {RULES_CONTROL}) t"""
    )
    t_env.create_temporary_view(_PARSED_CHANGES, parsed)
    valid = t_env.sql_query(
        "SELECT `change`, src, src_partition, src_offset, `raw`, effective_ms "
        f"FROM {_PARSED_CHANGES} WHERE `reason` IS NULL"
    )
    return RuleChanges(valid, whole=spec.bounded)


_PARSED_CHANGES = "jt_parsed_rule_changes"


def _controlled(
    t_env: StreamTableEnvironment,
    j_rows: Any,
    ir: str,
    scored: bool,
    state_ttl_ms: int,
    name: str,
    changes: RuleChanges,
) -> Any:
    """Return the engine's candidates with the rules changed live; register :data:`RULE_REJECTS`."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    engine = get_gateway().jvm.journeytriggers.engine.EngineStreams
    j_changes = t_env.to_data_stream(changes.valid)._j_data_stream
    outputs = engine.controlledCandidates(
        j_rows, j_changes, ir, scored, state_ttl_ms, name, changes.whole
    )
    refused = t_env.from_data_stream(DataStream(outputs[1]))
    t_env.create_temporary_view(_ENGINE_REFUSED, refused)
    t_env.create_temporary_view(
        RULE_REJECTS,
        t_env.sql_query(
            "SELECT `reason`, src AS `source`, src_partition AS source_partition, "
            f"src_offset AS source_offset, `raw` FROM {_PARSED_CHANGES} "
            "WHERE `reason` IS NOT NULL\n"
            "UNION ALL\nSELECT `reason`, `source`, source_partition, source_offset, `raw` "
            f"FROM {_ENGINE_REFUSED}"
        ),
    )
    return outputs[0]


_ENGINE_REFUSED = "jt_engine_refused_rule_changes"


def _with_catalog(
    t_env: StreamTableEnvironment,
    j_candidates: Any,
    wait_ms: int,
    name: str,
    bounded: bool,
) -> Any:
    """Return the candidates with their product's catalog version (Java, keyed by product).

    In a ``bounded`` run the catalog is read whole before candidates pass it (no idleness).
    """
    from pyflink.java_gateway import get_gateway

    columns = "product_id, category, price, margin_tier, version_ms"
    versions = t_env.sql_query(f"SELECT {columns} FROM ({catalog_records_query()})")
    j_versions = t_env.to_data_stream(versions)._j_data_stream
    engine = get_gateway().jvm.journeytriggers.engine.EngineStreams
    uid = CATALOG_UID + name.removeprefix(ENGINE_UID)
    return engine.withCatalog(j_candidates, j_versions, wait_ms, bounded, uid)


def _extra(name: str) -> str:
    return f"JSON_VALUE(extras, {quote('$.' + name)})"


def engine_decisions(
    t_env: StreamTableEnvironment,
    rules: Sequence[Rule],
    *,
    model_version: str | None,
    policy: bool,
    catalog: bool,
    name: str = ENGINE_UID,
    state_ttl_ms: int = 0,
    bounded: bool = False,
    changes: RuleChanges | None = None,
) -> str:
    """Run ``rules`` in an engine named ``name``; return the query of their decisions.

    ``state_ttl_ms`` is the job's state TTL (each engine state entry expires that long after
    its last write; 0: never). See :func:`engine_decisions_query`.
    """
    view = register_engine_candidates(
        t_env,
        rules,
        scored=model_version is not None,
        policy=policy,
        catalog=catalog,
        name=name,
        state_ttl_ms=state_ttl_ms,
        bounded=bounded,
        changes=changes,
    )
    return engine_decisions_query(
        t_env, rules, model_version=model_version, policy=policy, catalog=catalog, view=view
    )


def engine_decisions_query(
    t_env: StreamTableEnvironment,
    rules: Sequence[Rule],
    *,
    model_version: str | None,
    policy: bool,
    catalog: bool = False,
    view: str = ENGINE_CANDIDATES,
) -> str:
    """Return the query of the decisions from the engine's candidates (the view ``view``).

    Its columns are :data:`jobs.sql.DECISION_FIELDS`, then with ``policy`` the trigger's
    context (:data:`jobs.sql.CONTEXT_COLUMNS`). With a model (``model_version``), every
    candidate is scored by the UDF (Arrow batches of the small candidate stream) and the rules
    with a score condition are decided on the scored candidates, in the JVM
    (``journeytriggers.engine.ScoreGateOperator``); decisions carry the score, the model
    version and the features. Without one, those columns are NULL.
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
        context: dict[str, Any] = {
            **{f"ctx_{name}": _extra(name) for name in POLICY_CONTEXT},
            "ctx_anchor_ms": "anchor_ts_ms",
            "ctx_priority": "priority",
        }
        assert tuple(context) == CONTEXT_COLUMNS
        columns += [f"{value} AS {name}" for name, value in context.items()]

    def branch(product: str, where: str) -> str:
        listed = ",\n  ".join([*columns, f"{product} AS product"])
        return f"SELECT {listed}\nFROM {view}{where}"

    null_product = f"CAST(NULL AS {PRODUCT_SQL_TYPE})"
    if catalog:
        # Two branches, not a CASE: Flink's planner mishandles ROW values in CASE.
        found = "catalog_found"
        version = f"CASE WHEN {found} THEN {utc('catalog_version_ms')} END"
        row = (
            f"CAST(ROW(product_id, {found}, catalog_category, catalog_price, "
            f"catalog_margin_tier, {version}) AS {PRODUCT_SQL_TYPE})"
        )
        candidates = (
            f"{branch(row, ' WHERE product_id IS NOT NULL')}\nUNION ALL\n"
            f"{branch(null_product, ' WHERE product_id IS NULL')}"
        )
    else:
        candidates = branch(null_product, "")
    decision = ", ".join(DECISION_FIELDS[: DECISION_FIELDS.index("score")])
    context_columns = "".join(f", {c}" for c in CONTEXT_COLUMNS) if policy else ""
    if model_version is None:
        return f"""SELECT {decision}, CAST(NULL AS DOUBLE) AS score,
  CAST(NULL AS STRING) AS model_version, CAST(NULL AS {FEATURES_SQL_TYPE}) AS features,
  product{context_columns}
FROM (
{candidates}
) g"""
    scored = t_env.sql_query(
        f"""SELECT c.*, c.s.score AS score
FROM (
  SELECT u.*, {PROPENSITY_FUNCTION}(u.profile, u.event_type, u.ts_ms) AS s
  FROM (
{candidates}
  ) u
) c"""
    )
    gated = view + "_scored"
    t_env.create_temporary_view(gated, _score_gated(t_env, scored, rules, view))
    features = ", ".join(f"s.`{name}`" for name in FEATURE_NAMES)
    return f"""SELECT {decision}, score, {quote(model_version)} AS model_version,
  CAST(ROW({features}) AS {FEATURES_SQL_TYPE}) AS features, product{context_columns}
FROM {gated}"""


def _score_gated(
    t_env: StreamTableEnvironment, scored: Table, rules: Sequence[Rule], view: str
) -> Table:
    """Return the scored candidates whose rule's conditions hold (``ScoreGateOperator``)."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    names = list(scored.get_schema().get_field_names())
    fields = gateway.jvm.journeytriggers.engine.ScoreGateOperator.FIELDS
    positions = gateway.new_array(gateway.jvm.int, len(fields))
    for index, name in enumerate(fields):
        positions[index] = names.index(name)
    gate = gateway.jvm.journeytriggers.engine.ScoreGateOperator(
        rule_set_json(list(rules)), positions
    )
    return through_java(t_env, scored, gate, f"{view.replace('_', '-')}-score-gate")
