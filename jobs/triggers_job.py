"""The triggers job: a builder that takes its source and sinks, plus a thin ``main``.

Run it on a local minicluster::

    python -m jobs.triggers_job --bootstrap-servers localhost:9092 --bounded

or on a Flink cluster::

    flink run -py jobs/triggers_job.py -pyexec /path/to/venv/bin/python -- --bootstrap-servers ...

Tests call :func:`build_pipeline` with file sources and sinks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs import sql
from jobs.jvm_streams import (
    DEAD_LETTER_METRIC,
    DEDUP_UID,
    LATE_METRIC,
    counted,
    decision_metrics,
    deduplicated,
    never_idle,
)
from jobs.specs import (
    DELIVERY_GUARANTEES,
    START_MODES,
    CatalogSpec,
    DiscardSinkSpec,
    FileCatalogSpec,
    FileSinkSpec,
    FileSourceSpec,
    KafkaCatalogSpec,
    KafkaSinkSpec,
    KafkaSourceSpec,
    SinkSpec,
    SourceSpec,
    format_offsets,
    parse_offsets,
)
from journey_triggers.config import (
    EXECUTION_MODES,
    SCORING_UDFS,
    UNKNOWN_EVENT_TYPES,
    JobConfig,
)
from journey_triggers.durations import parse_duration_ms
from journey_triggers.errors import ConfigError, JourneyTriggersError
from journey_triggers.jvm_build import job_jars
from journey_triggers.rules.ir import RuleIRError, lower
from journey_triggers.rules.loader import RuleFileError, load_rules

if TYPE_CHECKING:
    from pyflink.table import StatementSet, StreamTableEnvironment, Table

    from journey_triggers.rules.model import Rule

JOB_NAME = "journey-triggers"


def use_this_python() -> None:
    """Put this interpreter's directory first on PATH, before PyFlink starts its JVM.

    Local Python workers run the ``python`` on PATH, and thread mode's embedded interpreter
    takes its ``sys.path`` from it, so both must be this (virtual environment's) interpreter.
    On a cluster, ``flink run -pyexec`` names the TaskManagers' interpreter instead.
    """
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path])


def create_table_env(config: JobConfig) -> StreamTableEnvironment:
    """Return a streaming table environment configured from ``config``.

    A StreamTableEnvironment, so that the policy stage (a DataStream function) can run
    between the rules' SQL and the sinks, in the same job.
    """
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    use_this_python()
    settings = {
        "pipeline.name": JOB_NAME,
        "parallelism.default": str(config.parallelism),
        # Decisions format times in UTC; the session zone must not depend on the machine.
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": f"{config.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        # The JobManager-heap default caps state at 5 MB per checkpoint; keep it on a filesystem.
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": config.checkpoint_uri(),
        "table.exec.source.idle-timeout": f"{config.idle_timeout_ms} ms",
        "python.execution-mode": config.python_execution_mode,
        # Retry a failed job a few times (a lost TaskManager, a broker blip), then fail loudly
        # instead of restarting forever and hiding the error.
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "30 s",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": "5",
        # Idle state expires after the TTL (processing time); 0 ms keeps state forever.
        "table.exec.state.ttl": f"{config.state_ttl_ms} ms",
        **config.flink_conf,
    }
    # The project's Java operators (jobs.jvm_streams) and the official Kafka SQL connector, both
    # built or fetched by Maven (journey_triggers.jvm_build), shipped with the job and added to
    # the jars `flink run -py` already ships (flink-python's, which the cluster needs for the
    # Python operators: without it the JobManager cannot load them).
    jars = [*_context_jars(), config.flink_conf.get("pipeline.jars"), *job_jars()]
    settings["pipeline.jars"] = ";".join(dict.fromkeys(jar for jar in jars if jar))
    flink_conf = Configuration()
    for key, value in settings.items():
        flink_conf.set_string(key, value)
    stream_env = StreamExecutionEnvironment.get_execution_environment(flink_conf)
    env = StreamTableEnvironment.create(stream_env, EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    for key, value in settings.items():
        conf.set(key, value)
    return env


def _context_jars() -> list[str]:
    """Return the ``pipeline.jars`` of the environment the job runs in (set by ``flink run``)."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    context = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
    jars = (
        context.getExecutionEnvironment()
        .getConfiguration()
        .getOptional(jvm.org.apache.flink.configuration.PipelineOptions.JARS)
    )
    return [str(jar) for jar in jars.get()] if jars.isPresent() else []


def is_bounded(source: SourceSpec) -> bool:
    """Return whether the job reads its events to an end (a file, or ``--bounded``)."""
    return isinstance(source, FileSourceSpec) or (
        isinstance(source, KafkaSourceSpec) and source.is_bounded
    )


def register_events(t_env: StreamTableEnvironment, source: SourceSpec, config: JobConfig) -> None:
    """Register the source and the views up to :data:`jobs.sql.EVENTS` (see ``jobs.sql``)."""
    for name, java_class in sql.INGEST_FUNCTIONS.items():
        t_env.create_java_temporary_system_function(name, java_class)
    for statement in (sql.source_ddl(source, config), sql.classified_view(config)):
        t_env.execute_sql(statement)
    classified = never_idle(t_env, t_env.from_path(sql.CLASSIFIED), "events-never-idle")
    t_env.create_temporary_view(sql.CLASSIFIED_ACTIVE, classified)
    t_env.execute_sql(sql.valid_view())
    t_env.execute_sql(sql.on_time_view(config))
    if config.dedup_horizon_ms > 0:
        unique, conflicts, duplicates = deduplicated(
            t_env, t_env.from_path(sql.ON_TIME_ALL), config.dedup_horizon_ms, DEDUP_UID
        )
        t_env.create_temporary_view(sql.ON_TIME_UNIQUE, unique)
        t_env.create_temporary_view(sql.CONFLICTS, conflicts)
        t_env.create_temporary_view(sql.DUPLICATES, duplicates)
    else:
        for statement in sql.without_dedup_views():
            t_env.execute_sql(statement)
    for statement in sql.events_views(config):
        t_env.execute_sql(statement)


def register_inputs(
    t_env: StreamTableEnvironment, source: SourceSpec, config: JobConfig
) -> str | None:
    """Register the events and everything the rules read; return the model's version, if any.

    The source, its views up to the profile, the catalog's versions and the scoring function:
    what the job and a backtest's variants share.
    """
    if is_bounded(source):
        # A bounded input is complete, so no partition needs skipping, and idleness would do
        # harm: the SQL watermark assigner of a file source counts idleness in processing time,
        # so a source held up by backpressure was taken for idle, and the policy stage's
        # watermark then jumped past candidates still on their way (see README, Idleness).
        t_env.get_config().set("table.exec.source.idle-timeout", "0 ms")
    register_events(t_env, source, config)
    for statement in (sql.events_context_view(), sql.profile_view()):
        t_env.execute_sql(statement)
    if config.catalog is not None:
        from jobs.catalog_stage import register_catalog_source

        t_env.execute_sql(sql.catalog_ddl(config.catalog))
        idle_ms = 0 if is_bounded(source) else config.idle_timeout_ms
        whole = isinstance(config.catalog, FileCatalogSpec) or config.catalog.bounded
        register_catalog_source(t_env, config.out_of_orderness_ms, idle_ms, whole)
        t_env.execute_sql(sql.catalog_versions_view())
    model_version = None
    if config.model_path is not None:
        from udfs.model import read_model
        from udfs.scoring import PROPENSITY_FUNCTION, pandas_propensity, row_propensity

        content, model = read_model(config.model_path)
        make = pandas_propensity if config.scoring_udf == "pandas" else row_propensity
        t_env.create_temporary_function(PROPENSITY_FUNCTION, make(content))
        model_version = model.version
    return model_version


def decisions_query_of(
    t_env: StreamTableEnvironment,
    config: JobConfig,
    rules: list[Rule],
    *,
    model_version: str | None,
    policy: bool,
    bounded: bool,
    name: str | None = None,
) -> str:
    """Return the query of the rules' decisions, from the rule engine (``jobs.engine_stage``).

    ``bounded``: the input has an end (:func:`is_bounded`). ``name`` tells apart the engines
    of one job (a backtest's variants).
    """
    from jobs.engine_stage import ENGINE_UID, engine_decisions, register_rule_changes

    catalog = config.catalog is not None
    changes = None
    if config.rules_topic is not None and name is None:
        changes = register_rule_changes(t_env, config.rules_topic, rules, catalog=catalog)
    return engine_decisions(
        t_env,
        rules,
        model_version=model_version,
        policy=policy,
        catalog=catalog,
        name=ENGINE_UID if name is None else f"{ENGINE_UID}-{name}",
        state_ttl_ms=config.state_ttl_ms,
        bounded=bounded,
        changes=changes,
    )


def build_pipeline(
    t_env: StreamTableEnvironment,
    source: SourceSpec,
    sink: SinkSpec,
    config: JobConfig,
) -> StatementSet:
    """Register the job's tables on ``t_env`` and return its statements, ready to execute."""
    model_version = register_inputs(t_env, source, config)
    for statement in sql.sink_ddls(
        sink,
        profiles=config.profile_snapshots,
        policy=config.policy is not None,
        duplicates=config.write_duplicates,
    ):
        t_env.execute_sql(statement)
    statement_set = t_env.create_statement_set()
    late = t_env.sql_query(sql.late_query(config))
    statement_set.add_insert(sql.LATE_SINK, counted(t_env, late, LATE_METRIC))
    if config.write_duplicates:
        statement_set.add_insert(sql.DUPLICATES_SINK, t_env.sql_query(sql.duplicates_query()))
    if config.profile_snapshots:
        statement_set.add_insert_sql(sql.profiles_insert())
    rules = config.active_rules()
    catalog = config.catalog is not None
    live_rules = config.rules_topic is not None
    if config.policy is None:
        triggers = t_env.sql_query(
            decisions_query_of(
                t_env,
                config,
                rules,
                model_version=model_version,
                policy=False,
                bounded=is_bounded(source),
            )
        )
        dead = t_env.sql_query(sql.dead_letter_query(catalog=catalog, rule_rejects=live_rules))
        statement_set.add_insert(sql.DEAD_LETTER_SINK, counted(t_env, dead, DEAD_LETTER_METRIC))
        columns = ("rule_id", "status", None, "trigger_time_ms")
        statement_set.add_insert(
            sql.DECISIONS_SINK, decision_metrics(t_env, triggers, columns, candidates=True)
        )
        return statement_set
    from jobs.policy_stage import apply_policy_stage

    query = decisions_query_of(
        t_env, config, rules, model_version=model_version, policy=True, bounded=is_bounded(source)
    )
    inputs = t_env.sql_query(sql.policy_input_query(query))
    control = None
    if config.policy_topic is not None:
        t_env.execute_sql(sql.policy_control_ddl(config.policy_topic, config))
        control = (t_env.sql_query(sql.policy_control_query()), config.policy_topic.topic)
    decisions, erasures, rejects = apply_policy_stage(
        t_env, inputs, config.policy, control, config.idle_timeout_ms, config.fail_once
    )
    if rejects is not None:
        t_env.create_temporary_view(sql.POLICY_REJECTS, rejects)
    dead = t_env.sql_query(
        sql.dead_letter_query(
            catalog=catalog, policy_rejects=rejects is not None, rule_rejects=live_rules
        )
    )
    statement_set.add_insert(sql.DEAD_LETTER_SINK, counted(t_env, dead, DEAD_LETTER_METRIC))
    decisions = _measured(t_env, decisions)
    if isinstance(sink, FileSinkSpec):  # a file holds the records alone, one per line
        decisions, erasures = decisions.select(decisions.record), erasures.select(erasures.record)
    statement_set.add_insert(sql.DECISIONS_SINK, decisions)
    statement_set.add_insert(sql.ERASURES_SINK, erasures)
    return statement_set


def _measured(t_env: StreamTableEnvironment, decisions: Table) -> Table:
    """Return the policy stage's ``(customer_id, record)`` decisions, counted and timed.

    Per rule, in the JVM (``jvm_streams.decision_metrics``); the stage counts the candidates.
    """
    from pyflink.table import DataTypes
    from pyflink.table.expressions import col

    def field(name: str) -> Any:
        return col("record").json_value(f"$.{name}")

    columns = decisions.select(
        col("customer_id"),
        col("record"),
        field("rule_id").alias("m_rule"),
        field("status").alias("m_status"),
        field("reason").alias("m_reason"),
        field("trigger_time_ms").cast(DataTypes.BIGINT()).alias("m_time"),
    )
    names = ("m_rule", "m_status", "m_reason", "m_time")
    measured = decision_metrics(t_env, columns, names, candidates=False)
    return measured.select(col("customer_id"), col("record"))


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            msg = f"{flag} takes KEY=VALUE, got {pair!r}"
            raise ConfigError(msg)
        result[key] = value
    return result


JOB_FLAG_MODES = ("run", "replay", "backtest")


def add_job_arguments(parser: argparse.ArgumentParser, mode: str = "run") -> None:
    """Add the job's flags to ``parser`` (shared by ``python -m`` and ``journey-triggers run``).

    ``mode`` ``replay`` leaves out the input's position (the replay finds it by time) and
    ``--detached``, and writes to ``*.replay`` topics by default, under a consumer group and
    transactional ids of its own, so a replay never touches the live job's offsets, output or
    producers. ``backtest`` also leaves out the rules, the policy and the Kafka outputs (its
    variants name their own).
    """
    if mode not in JOB_FLAG_MODES:
        raise ValueError(mode)
    defaults = JobConfig()
    suffix = "" if mode == "run" else f".{mode}"
    name = JOB_NAME if mode == "run" else f"{JOB_NAME}-{mode}"
    io = parser.add_argument_group("input and output")
    io.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, e.g. localhost:9092")
    io.add_argument("--group-id", default=name, help=f"consumer group (default: {name})")
    if mode == "run":
        _add_position_arguments(io)
    io.add_argument(
        "--kafka-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Kafka client property for sources and sinks (repeatable), "
        "e.g. security.protocol=SASL_SSL",
    )
    if mode != "backtest":
        _add_output_arguments(io, suffix, name)
    timing = parser.add_argument_group("event time and execution")
    timing.add_argument(
        "--out-of-orderness",
        default=f"{defaults.out_of_orderness_ms}ms",
        help="how late an event may arrive behind its partition's newest (default: 10s)",
    )
    timing.add_argument(
        "--max-record-chars",
        type=int,
        default=defaults.max_record_chars,
        help="longer records are dead letters (oversized_record), refused before they are "
        f"parsed (default: {defaults.max_record_chars:,})",
    )
    timing.add_argument(
        "--unknown-event-types",
        choices=UNKNOWN_EVENT_TYPES,
        default=defaults.unknown_event_types,
        help="a record whose event_type is not a known one: dead-letter it "
        "(unknown_event_type), or accept it as activity no rule names (default: dead-letter)",
    )
    timing.add_argument(
        "--max-ahead",
        default="0ms",
        help="a Kafka record whose ts is more than this after the record's timestamp is a dead "
        "letter (ts_ahead_of_record_time): a wrong clock cannot move event time on "
        "(default: 0ms, no bound)",
    )
    timing.add_argument(
        "--max-behind",
        default="0ms",
        help="likewise more than this before it (ts_behind_record_time) (default: 0ms, no bound)",
    )
    timing.add_argument(
        "--idle-timeout",
        default=f"{defaults.idle_timeout_ms}ms",
        help="a partition silent this long stops holding back event time; 0ms disables "
        "(default: 30s)",
    )
    if mode != "backtest":
        _add_logic_arguments(io)
    io.add_argument(
        "--model",
        metavar="PATH",
        help="propensity model file (from `journey-triggers train`): every decision is scored "
        "and carries the score, the model version and its features; rules may use score "
        "conditions. A missing or corrupt file is an error at start",
    )
    io.add_argument(
        "--catalog-file",
        metavar="PATH",
        help="product catalog as JSON lines (a file, or a directory of files), read once: "
        "bounded runs only. Decisions carry the anchor's product as of their event time",
    )
    io.add_argument(
        "--catalog-topic",
        metavar="TOPIC",
        help="read the product catalog from this Kafka topic (compacted, keyed by product id) "
        "at --bootstrap-servers instead",
    )
    io.add_argument(
        "--scoring-udf",
        choices=SCORING_UDFS,
        default="pandas",
        help="pandas: vectorized over Arrow batches (default); row: one Python call per "
        "candidate, the benchmark's baseline",
    )
    timing.add_argument(
        "--abandonment-window",
        default="15m",
        help="cart abandonment: add_to_cart with no purchase within this (default: 15m)",
    )
    timing.add_argument(
        "--identity-window",
        default="0ms",
        help="anonymous events count for a customer who logs in on the same anonymous id or "
        "device within this long after them; every decision waits this long in event time "
        "(default: 0ms, links apply forwards only)",
    )
    timing.add_argument(
        "--dedup-horizon",
        default="24h",
        help="a record whose event_id a record of the same customer at most this long before "
        "(event time) already had is dropped as a copy, or dead-lettered if its text differs "
        "(default: 24h; 0ms keeps every record)",
    )
    timing.add_argument(
        "--state-ttl",
        default="0ms",
        help="drop a customer's state (profile, identity links, rule state) after this long "
        "without an update, in processing time (default: 0ms, keep forever)",
    )
    timing.add_argument("--parallelism", type=int, default=defaults.parallelism, help="default: 2")
    timing.add_argument(
        "--checkpoint-interval",
        default=f"{defaults.checkpoint_interval_ms}ms",
        help="exactly-once output is committed at each checkpoint (default: 5s)",
    )
    timing.add_argument(
        "--checkpoint-dir",
        help="checkpoint directory URI, e.g. file:///data/ckpt or s3://bucket/ckpt "
        "(default: journey-triggers/checkpoints under the system temp dir)",
    )
    timing.add_argument(
        "--python-execution-mode",
        choices=EXECUTION_MODES,
        default=defaults.python_execution_mode,
        help="PyFlink worker mode for Python operators (default: process)",
    )
    timing.add_argument(
        "--flink-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Flink configuration (repeatable), e.g. state.backend.type=rocksdb",
    )
    if mode != "run":
        return
    timing.add_argument(
        "--detached",
        action="store_true",
        help="submit and return without waiting for the job to finish (cluster use)",
    )


def _add_position_arguments(io: argparse._ArgumentGroup) -> None:
    """Add the input topic and where the job starts and stops reading it (``run`` only)."""
    io.add_argument("--input-topic", default="events", help="topic of raw events (default: events)")
    io.add_argument(
        "--start",
        default="earliest",
        help=f"where to start reading: {', '.join(START_MODES)} or epoch ms (default: earliest)",
    )
    io.add_argument(
        "--bounded",
        action="store_true",
        help="stop at the end offsets the input topic has at start, then fire what is pending",
    )
    io.add_argument(
        "--start-offsets",
        metavar="P:O,...",
        help="start each partition at this offset, e.g. 0:42,1:300 (every partition; overrides "
        "--start). `journey-triggers replay --dry-run` prints them for a time range",
    )
    io.add_argument(
        "--stop-offsets",
        metavar="P:O,...",
        help="stop each partition before this offset, then fire what is pending (a bounded read "
        "that ends there instead of at the end offsets at start)",
    )
    io.add_argument("--input-file", help="read events from this JSON-lines file instead of Kafka")


def _add_output_arguments(io: argparse._ArgumentGroup, suffix: str, name: str) -> None:
    """Add where decisions, dead letters, late events, profiles and erasures go."""
    io.add_argument(
        "--decisions-topic", default=f"decisions{suffix}", help=f"default: decisions{suffix}"
    )
    io.add_argument(
        "--dead-letter-topic",
        default=f"events.dlq{suffix}",
        help=f"default: events.dlq{suffix}",
    )
    io.add_argument(
        "--late-topic", default=f"events.late{suffix}", help=f"default: events.late{suffix}"
    )
    io.add_argument(
        "--transactional-id-prefix",
        default=name,
        help=f"prefix of the exactly-once sink's Kafka transactional ids (default: {name})",
    )
    io.add_argument(
        "--delivery",
        choices=DELIVERY_GUARANTEES,
        default="exactly-once",
        help="Kafka outputs: exactly-once (visible to read_committed consumers at each "
        "checkpoint) or at-least-once (visible at once; after a failure, records since the "
        "last checkpoint come again: deduplicate decisions on decision_id) "
        "(default: exactly-once)",
    )
    io.add_argument(
        "--profile-topic", default=f"profiles{suffix}", help=f"default: profiles{suffix}"
    )
    io.add_argument(
        "--duplicates-topic",
        default=f"events.duplicates{suffix}",
        help=f"dropped copies of events, with --write-duplicates (default: "
        f"events.duplicates{suffix})",
    )
    io.add_argument(
        "--write-duplicates",
        action="store_true",
        help="also write each dropped copy of an event to the duplicates topic (or "
        "<output-dir>/duplicates)",
    )
    io.add_argument(
        "--erasure-topic",
        default=f"erasures{suffix}",
        help=f"erasure confirmations, with --policy (default: erasures{suffix})",
    )
    io.add_argument(
        "--profile-snapshots",
        action="store_true",
        help="also write the customer's profile as of every event to the profile topic "
        "(or <output-dir>/profiles): for debugging, one record per event",
    )
    io.add_argument(
        "--output-dir", help="write decisions, dead letters and late events here instead of Kafka"
    )
    io.add_argument(
        "--discard-output",
        action="store_true",
        help="compute everything but write nothing (Flink's blackhole sink): for benchmarks",
    )


def _add_logic_arguments(io: argparse._ArgumentGroup) -> None:
    """Add the rules and the decision policy (a backtest's variants name their own)."""
    io.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="PATH",
        help="rule file or directory of *.yaml rule files (repeatable); without it the "
        "built-in cart-abandonment rule runs",
    )
    io.add_argument(
        "--policy",
        metavar="FILE",
        help="decision policy (YAML): caps, cooldowns, priority, quiet hours, consent, channels "
        "and fallback, experiments. Without it, every detected trigger is written with status "
        "'fired' and nothing is decided",
    )
    io.add_argument(
        "--policy-topic",
        metavar="TOPIC",
        help="control topic of policy versions (YAML or JSON documents) at --bootstrap-servers: "
        "applied live, from their effective_from (default: when published); invalid ones are "
        "dead-lettered. Starts from --policy, or the default policy",
    )
    io.add_argument(
        "--rules-topic",
        metavar="TOPIC",
        help="rules control topic at --bootstrap-servers (JVM engine): rule changes (put, "
        "disable, enable, remove) applied live from their effective_from (default: when "
        "published), unchanged rules keeping their state; invalid, stale and unknown-rule "
        "changes are dead-lettered. Starts from the rule files",
    )


def load_job_rules(paths: Sequence[str], *, scored: bool = False) -> tuple[Rule, ...]:
    """Load rule files; check that every enabled rule lowers to the IR (errors name file:line).

    ``scored``: the job runs with a model, so rules may have score conditions.
    """
    if not paths:
        return ()
    try:
        loaded = load_rules(paths)
    except RuleFileError as err:
        raise ConfigError(str(err)) from err
    problems = []
    for item in loaded:
        if not item.rule.enabled:
            continue
        try:
            _check_ir(item.rule, scored=scored)
        except RuleIRError as err:
            problems.append(f"{item.path}:{item.line}: {err}")
    if problems:
        raise ConfigError("\n".join(problems))
    if not any(item.rule.enabled for item in loaded):
        msg = f"no enabled rule in {', '.join(paths)}"
        raise ConfigError(msg)
    return tuple(item.rule for item in loaded)


def _check_ir(rule: Rule, *, scored: bool) -> None:
    """Raise RuleIRError unless ``rule`` lowers to the IR and, without a model, reads no score."""
    from journey_triggers.semantics.conditions import conditions_of, uses_score

    lower(rule)
    if not scored and any(uses_score(c) for c in conditions_of(rule)):
        msg = f"rule '{rule.id}': it has a score condition: run the job with a model (--model)"
        raise RuleIRError(msg)


def job_from_args(args: argparse.Namespace) -> tuple[SourceSpec, SinkSpec, JobConfig]:
    """Turn parsed flags into the job's source, sink and config; raise ConfigError if invalid."""
    if args.model is not None:
        from udfs.model import read_model

        read_model(args.model)  # a missing or corrupt model is an error now, not in a worker
    config = JobConfig(
        rules=load_job_rules(args.rules, scored=args.model is not None),
        model_path=args.model,
        scoring_udf=args.scoring_udf,
        out_of_orderness_ms=parse_duration_ms(
            args.out_of_orderness, what="--out-of-orderness", allow_zero=True
        ),
        max_record_chars=args.max_record_chars,
        unknown_event_types=args.unknown_event_types,
        max_ahead_ms=parse_duration_ms(args.max_ahead, what="--max-ahead", allow_zero=True),
        max_behind_ms=parse_duration_ms(args.max_behind, what="--max-behind", allow_zero=True),
        idle_timeout_ms=parse_duration_ms(
            args.idle_timeout, what="--idle-timeout", allow_zero=True
        ),
        abandonment_window_ms=parse_duration_ms(
            args.abandonment_window, what="--abandonment-window"
        ),
        dedup_horizon_ms=parse_duration_ms(
            args.dedup_horizon, what="--dedup-horizon", allow_zero=True
        ),
        identity_window_ms=parse_duration_ms(
            args.identity_window, what="--identity-window", allow_zero=True
        ),
        profile_snapshots=args.profile_snapshots,
        write_duplicates=args.write_duplicates,
        state_ttl_ms=parse_duration_ms(args.state_ttl, what="--state-ttl", allow_zero=True),
        parallelism=args.parallelism,
        checkpoint_interval_ms=parse_duration_ms(
            args.checkpoint_interval, what="--checkpoint-interval"
        ),
        python_execution_mode=args.python_execution_mode,
        checkpoint_dir=args.checkpoint_dir,
        flink_conf=_key_values(args.flink_conf, "--flink-conf"),
    )
    kafka_properties = _key_values(args.kafka_property, "--kafka-property")
    start_offsets = (
        parse_offsets(args.start_offsets, "--start-offsets") if args.start_offsets else ()
    )
    stop_offsets = parse_offsets(args.stop_offsets, "--stop-offsets") if args.stop_offsets else ()
    if (start_offsets or stop_offsets) and args.input_file:
        msg = "--start-offsets and --stop-offsets are for a Kafka input, not --input-file"
        raise ConfigError(msg)
    bounded = bool(args.bounded or stop_offsets)
    config = replace(config, catalog=_catalog(args, kafka_properties, bounded=bounded))
    if args.policy or args.policy_topic:
        from journey_triggers.policy import DEFAULT_POLICY, load_policy

        policy = load_policy(args.policy) if args.policy else DEFAULT_POLICY
        config = replace(config, policy=policy)

    def control_topic(flag: str, topic: str, group: str) -> KafkaSourceSpec:
        if not args.bootstrap_servers:
            msg = f"{flag} needs --bootstrap-servers"
            raise ConfigError(msg)
        return KafkaSourceSpec(
            bootstrap_servers=args.bootstrap_servers,
            topic=topic,
            group_id=f"{args.group_id}-{group}",
            bounded=bounded,
            properties=kafka_properties,
        )

    if args.policy_topic:
        control = control_topic("--policy-topic", args.policy_topic, "policy")
        config = replace(config, policy_topic=control)
    if args.rules_topic:
        config = replace(
            config, rules_topic=control_topic("--rules-topic", args.rules_topic, "rules")
        )
    source: SourceSpec
    if args.input_file:
        source = FileSourceSpec(path=args.input_file)
    elif args.bootstrap_servers:
        source = KafkaSourceSpec(
            bootstrap_servers=args.bootstrap_servers,
            topic=args.input_topic,
            group_id=args.group_id,
            start=args.start,
            bounded=args.bounded,
            properties=kafka_properties,
            start_offsets=start_offsets,
            stop_offsets=stop_offsets,
        )
    else:
        msg = "give --bootstrap-servers (Kafka) or --input-file"
        raise ConfigError(msg)
    sink: SinkSpec
    if args.discard_output:
        sink = DiscardSinkSpec()
    elif args.output_dir:
        sink = FileSinkSpec(directory=args.output_dir)
    elif args.bootstrap_servers:
        sink = KafkaSinkSpec(
            bootstrap_servers=args.bootstrap_servers,
            decisions_topic=args.decisions_topic,
            dead_letter_topic=args.dead_letter_topic,
            late_topic=args.late_topic,
            profile_topic=args.profile_topic,
            duplicates_topic=args.duplicates_topic,
            erasure_topic=args.erasure_topic,
            transactional_id_prefix=args.transactional_id_prefix,
            properties=kafka_properties,
            delivery=args.delivery,
        )
    else:
        msg = "give --bootstrap-servers (Kafka) or --output-dir"
        raise ConfigError(msg)
    return source, sink, config


def _catalog(
    args: argparse.Namespace, properties: dict[str, str], *, bounded: bool
) -> CatalogSpec | None:
    """Return the catalog the flags name, if any; a bounded job reads it once."""
    bounded = bool(args.input_file) or bounded
    if args.catalog_file and args.catalog_topic:
        msg = "give --catalog-file or --catalog-topic, not both"
        raise ConfigError(msg)
    if args.catalog_file:
        if not bounded:
            msg = (
                "--catalog-file is read once, for bounded runs (--bounded or --input-file); "
                "a job that runs live reads its catalog from a compacted topic: load the file "
                "with `journey-triggers load-catalog` and give --catalog-topic"
            )
            raise ConfigError(msg)
        return FileCatalogSpec(path=args.catalog_file)
    if args.catalog_topic:
        if not args.bootstrap_servers:
            msg = "--catalog-topic needs --bootstrap-servers"
            raise ConfigError(msg)
        return KafkaCatalogSpec(
            bootstrap_servers=args.bootstrap_servers,
            topic=args.catalog_topic,
            group_id=f"{args.group_id}-catalog",
            bounded=bounded,
            properties=properties,
        )
    return None


def run(args: argparse.Namespace) -> None:
    """Build the job from flags and execute it; wait for the end unless ``--detached``."""
    source, sink, config = job_from_args(args)
    t_env = create_table_env(config)
    started = time.monotonic()
    result = build_pipeline(t_env, source, sink, config).execute()
    if not args.detached:
        result.wait()
        # One parseable line for scripts (the benchmark reads it): planning, submission, run.
        print(f"journey-triggers: job ran in {time.monotonic() - started:.3f}s", file=sys.stderr)


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that choose what a replay (or a backtest from Kafka) reads."""
    from journey_triggers.replay import LOOKUPS

    history = parser.add_argument_group("history")
    history.add_argument("--topic", default="events", help="topic of raw events (default: events)")
    history.add_argument(
        "--from",
        dest="from_time",
        default="earliest",
        metavar="TIME",
        help="first record time: earliest, epoch ms or ISO-8601 (2027-01-01T08:00:00Z; UTC "
        "without a zone), a Kafka record timestamp (default: earliest)",
    )
    history.add_argument(
        "--to",
        dest="to_time",
        default="latest",
        metavar="TIME",
        help="end of the range, left out: latest (the end offsets now), epoch ms or ISO-8601 "
        "(default: latest)",
    )
    history.add_argument(
        "--offsets-lookup",
        choices=LOOKUPS,
        default="broker",
        help="broker: Kafka's offsets-for-times, each answer checked against the records "
        "around it; scan: read the records' timestamps, for Kafka-compatible brokers that do "
        "not index records by time (default: broker)",
    )
    history.add_argument(
        "--dry-run",
        action="store_true",
        help="print the offsets the range comes to, and the `run` flags that replay them "
        "(on a cluster, say), without running the job",
    )
    history.add_argument(
        "--no-progress", action="store_true", help="no progress bar (a summary line at the end)"
    )


def plan_from_args(args: argparse.Namespace) -> Any:
    """Return the :class:`journey_triggers.replay.ReplayPlan` that a replay's flags give."""
    from journey_triggers.replay import client_config, parse_bound, plan_replay

    if not args.bootstrap_servers:
        msg = "a replay reads Kafka: give --bootstrap-servers"
        raise ConfigError(msg)
    from_ms = parse_bound(args.from_time, "--from", "earliest")
    to_ms = parse_bound(args.to_time, "--to", "latest")
    client = client_config(_key_values(args.kafka_property, "--kafka-property"))
    return plan_replay(
        args.bootstrap_servers,
        args.topic,
        from_ms,
        to_ms,
        lookup=args.offsets_lookup,
        client=client,
    )


def run_with_progress(
    config: JobConfig,
    build: Callable[[StreamTableEnvironment], StatementSet],
    total: int,
    *,
    label: str = "replay",
    quiet: bool = False,
    observe: Callable[[Any, str], None] | None = None,
) -> str:
    """Run ``build``'s statements on a local minicluster to their end, with a progress line.

    The minicluster serves its REST API on a free port, for the source's read count out of
    ``total`` (``journey_triggers.replay``). ``observe(rest, job_id)`` runs at each poll.
    Return the job id.
    """
    from journey_triggers import broker
    from journey_triggers.flink_rest import FlinkRest
    from journey_triggers.replay import Progress, source_records, watch

    rest_port = broker.free_port()
    config = replace(config, flink_conf={"rest.port": str(rest_port), **config.flink_conf})
    result = build(create_table_env(config)).execute()
    job_id = str(result.get_job_client().get_job_id())
    rest = FlinkRest(rest_port)

    def processed() -> int | None:
        if observe is not None:
            observe(rest, job_id)
        return source_records(rest, job_id)

    progress = Progress(total, sys.stderr, quiet=quiet, label=label)
    watch(result.wait, progress, processed)
    return job_id


def replay(args: argparse.Namespace) -> None:
    """Replay a time range of a topic (``journey-triggers replay``): plan, run, show progress."""
    plan = plan_from_args(args)
    print(plan.describe(), file=sys.stderr)
    offsets = {
        "input_topic": args.topic,
        "start": "earliest",
        "bounded": False,
        "input_file": None,
        "start_offsets": format_offsets(plan.start_offsets),
        "stop_offsets": format_offsets(plan.stop_offsets),
    }
    if args.dry_run:
        print(
            f"--input-topic {args.topic} --start-offsets {offsets['start_offsets']} "
            f"--stop-offsets {offsets['stop_offsets']}"
        )
        return
    if plan.estimated_events == 0:
        print("replay: no records in the range; nothing to do", file=sys.stderr)
        return
    for key, value in offsets.items():
        setattr(args, key, value)
    source, sink, config = job_from_args(args)
    started = time.monotonic()
    run_with_progress(
        config,
        lambda t_env: build_pipeline(t_env, source, sink, config),
        plan.estimated_events,
        quiet=args.no_progress,
    )
    where = args.output_dir or f"{args.decisions_topic} at {args.bootstrap_servers}"
    print(
        f"journey-triggers: replay ran in {time.monotonic() - started:.3f}s; decisions in {where}",
        file=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags and run the job."""
    parser = argparse.ArgumentParser(prog="python -m jobs.triggers_job", description=__doc__)
    add_job_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except JourneyTriggersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
