"""The backtest job: several rule and policy variants over one history, in ONE Flink run.

The history is read once: the source, validation, identity, sessions and the profile are
registered once (``triggers_job.register_inputs``), and every variant's rules and policy stage
read the same views, so the planner reuses their operators. Each variant writes its decision
records under ``<output-dir>/variants/<name>/decisions``; the history's purchases (by resolved
customer, for the conversion numbers) go to ``<output-dir>/purchases``, and dead letters and
late events, once, where a run writes them.

A variants file (YAML) names the variants; paths are relative to it::

    attribution_window: 24h          # a purchase this long after a decision is its conversion
    variants:
      - name: current
        rules: [../rules/standard.yaml]
        policy: current-policy.yaml  # optional: without it, the default policy (send all)
      - name: stricter
        rules: [../rules/standard.yaml]
        policy: strict-policy.yaml
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from jobs import sql
from jobs.jvm_streams import DEAD_LETTER_METRIC, LATE_METRIC, counted
from jobs.specs import FileSinkSpec, SourceSpec, format_offsets
from jobs.triggers_job import decisions_query_of, is_bounded, load_job_rules, register_inputs
from journey_triggers.durations import parse_duration_ms
from journey_triggers.errors import ConfigError
from journey_triggers.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy

if TYPE_CHECKING:
    from pyflink.table import StatementSet, StreamTableEnvironment

    from journey_triggers.config import JobConfig
    from journey_triggers.rules.model import Rule

PURCHASES_SINK = "jt_bt_purchases"
ACTIVITY_SINK = "jt_bt_activity"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEYS = {"name", "rules", "policy", "description"}
DEFAULT_ATTRIBUTION_WINDOW = "24h"


@dataclass(frozen=True)
class Variant:
    """One rule set and policy of a backtest."""

    name: str
    rules: tuple[Rule, ...]
    policy: Policy
    rule_files: tuple[str, ...]
    policy_file: str | None
    description: str = ""

    def rule_ids(self) -> list[str]:
        """Return the ids of the variant's enabled rules, in file order."""
        return [rule.id for rule in self.rules if rule.enabled]


@dataclass(frozen=True)
class Backtest:
    """A variants file: the variants and the attribution window."""

    path: str
    variants: tuple[Variant, ...]
    attribution_window_ms: int


def load_backtest(path: str | Path, *, scored: bool = False) -> Backtest:
    """Read a variants file; every problem is a ConfigError that names the file and variant."""
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as err:
        msg = f"{file}: cannot read the variants file: {err.strerror or err}"
        raise ConfigError(msg) from err
    except yaml.YAMLError as err:
        msg = f"{file}: not valid YAML: {err}"
        raise ConfigError(msg) from err
    if not isinstance(document, dict) or not isinstance(document.get("variants"), list):
        msg = f"{file}: a variants file is a mapping with a list of 'variants'"
        raise ConfigError(msg)
    unknown = set(document) - {"variants", "attribution_window"}
    if unknown:
        msg = f"{file}: unknown keys {sorted(unknown)} (known: attribution_window, variants)"
        raise ConfigError(msg)
    window = str(document.get("attribution_window", DEFAULT_ATTRIBUTION_WINDOW))
    try:
        window_ms = parse_duration_ms(window, what=f"{file}: attribution_window")
    except ConfigError:
        raise
    variants = [
        _variant(file, number, item, scored) for number, item in enumerate(document["variants"], 1)
    ]
    if not variants:
        msg = f"{file}: no variants"
        raise ConfigError(msg)
    names = [v.name for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        msg = f"{file}: variant names must differ, got {twice} twice"
        raise ConfigError(msg)
    return Backtest(str(file), tuple(variants), window_ms)


def _variant(file: Path, number: int, item: Any, scored: bool) -> Variant:
    where = f"{file}: variant {number}"
    if not isinstance(item, dict):
        msg = f"{where}: a variant is a mapping with name, rules and (optionally) policy"
        raise ConfigError(msg)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        msg = f"{where}: 'name' must be 1-64 letters, digits, '_', '.' or '-', got {name!r}"
        raise ConfigError(msg)
    where = f"{file}: variant {name!r}"
    unknown = set(item) - _KEYS
    if unknown:
        msg = f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_KEYS))})"
        raise ConfigError(msg)
    rule_files = item.get("rules")
    if isinstance(rule_files, str):
        rule_files = [rule_files]
    if (
        not isinstance(rule_files, list)
        or not rule_files
        or not all(isinstance(r, str) for r in rule_files)
    ):
        msg = f"{where}: 'rules' must be a rule file or directory, or a list of them"
        raise ConfigError(msg)
    paths = [str(file.parent / r) for r in rule_files]
    try:
        rules = load_job_rules(paths, scored=scored)
    except ConfigError as err:
        msg = f"{where}: {err}"
        raise ConfigError(msg) from err
    policy_file = item.get("policy")
    policy = DEFAULT_POLICY
    if policy_file is not None:
        if not isinstance(policy_file, str):
            msg = f"{where}: 'policy' must be a policy file"
            raise ConfigError(msg)
        policy_file = str(file.parent / policy_file)
        try:
            policy = load_policy(policy_file)
        except PolicyError as err:
            msg = f"{where}: {err}"
            raise ConfigError(msg) from err
    return Variant(
        name=name,
        rules=rules,
        policy=policy,
        rule_files=tuple(paths),
        policy_file=policy_file,
        description=str(item.get("description", "")),
    )


def variant_directory(output_dir: str | Path, variant: Variant) -> Path:
    """Return where a variant's decision records go."""
    return Path(output_dir) / "variants" / variant.name / "decisions"


def build_backtest(
    t_env: StreamTableEnvironment,
    source: SourceSpec,
    output_dir: str,
    config: JobConfig,
    variants: tuple[Variant, ...],
) -> StatementSet:
    """Register the shared inputs once and every variant on them; return the statements."""
    from jobs.policy_stage import apply_policy_stage

    model_version = register_inputs(t_env, source, config)
    for statement in sql.sink_ddls(FileSinkSpec(output_dir), policy=True):
        t_env.execute_sql(statement)
    t_env.execute_sql(_purchases_ddl(output_dir))
    t_env.execute_sql(_activity_ddl(output_dir))
    statement_set = t_env.create_statement_set()
    late = t_env.sql_query(sql.late_query(config))
    statement_set.add_insert(sql.LATE_SINK, counted(t_env, late, LATE_METRIC))
    catalog = config.catalog is not None
    dead = t_env.sql_query(sql.dead_letter_query(catalog=catalog))
    statement_set.add_insert(sql.DEAD_LETTER_SINK, counted(t_env, dead, DEAD_LETTER_METRIC))
    statement_set.add_insert_sql(_purchases_insert())
    statement_set.add_insert_sql(_activity_insert())
    for number, variant in enumerate(variants):
        rules = [rule for rule in variant.rules if rule.enabled]
        query = decisions_query_of(
            t_env,
            config,
            rules,
            model_version=model_version,
            policy=True,
            bounded=is_bounded(source),
            name=str(number),
        )
        inputs = t_env.sql_query(sql.policy_input_query(query))
        decisions, _, _ = apply_policy_stage(
            t_env, inputs, variant.policy, None, 0, None, name=f"decision-policy-{number}"
        )
        table = f"jt_bt_decisions_{number}"
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE {table} (\n  `record` STRING\n) WITH (\n"
            f"  'connector' = 'filesystem', "
            f"'path' = {sql.quote(str(variant_directory(output_dir, variant)))}, "
            "'format' = 'raw'\n)"
        )
        statement_set.add_insert(table, decisions.select(decisions.record))
    return statement_set


def _purchases_ddl(output_dir: str) -> str:
    return f"""CREATE TEMPORARY TABLE {PURCHASES_SINK} (
  `customer_id` STRING,
  `ts_ms` BIGINT,
  `value` DOUBLE
) WITH (
  'connector' = 'filesystem', 'path' = {sql.quote(output_dir + "/purchases")}, 'format' = 'json'
)"""


def _activity_ddl(output_dir: str) -> str:
    return f"""CREATE TEMPORARY TABLE {ACTIVITY_SINK} (
  `events` BIGINT,
  `first_ms` BIGINT,
  `last_ms` BIGINT
) WITH (
  'connector' = 'filesystem', 'path' = {sql.quote(output_dir + "/activity")}, 'format' = 'json'
)"""


def _activity_insert() -> str:
    """Return the INSERT of the history's on-time events per hour: count, first and last time.

    The last event's time is the history's end: a trigger after it (an absence whose window
    was still open) is left out of the numbers (``journey_triggers.backtest``).
    """
    return f"""INSERT INTO {ACTIVITY_SINK}
SELECT COUNT(*), MIN(ts_ms), MAX(ts_ms)
FROM TABLE(TUMBLE(TABLE {sql.EVENTS}, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end"""


def _purchases_insert() -> str:
    """Return the INSERT of every on-time purchase, by the customer the job resolved it to.

    The value is the purchase's ``cart_value``, else its ``price`` (the REES46 sample's one
    item), else NULL.
    """
    value = (
        "COALESCE(TRY_CAST(JSON_VALUE(line, '$.properties.cart_value') AS DOUBLE), "
        "TRY_CAST(JSON_VALUE(line, '$.properties.price') AS DOUBLE))"
    )
    return f"""INSERT INTO {PURCHASES_SINK}
SELECT {sql.customer_of("customer_key")}, ts_ms, {value}
FROM {sql.EVENTS}
WHERE event_type = 'purchase'"""


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Return the JSON records of every finished part file a file sink wrote under ``directory``."""
    import json

    from journey_triggers.events import json_lines

    records: list[dict[str, Any]] = []
    for part in sorted(directory.rglob("part-*")):
        if not part.name.startswith("."):
            text = part.read_text(encoding="utf-8")
            records.extend(json.loads(line) for line in json_lines(text) if line)
    return records


def add_backtest_arguments(parser: Any) -> None:
    """Add the backtest's own flags: the variants, the report and where the history is."""
    group = parser.add_argument_group("backtest")
    group.add_argument(
        "--variants", required=True, metavar="FILE", help="the variants file (YAML; see README)"
    )
    group.add_argument(
        "--report", default="backtest.html", help="the HTML report (default: backtest.html)"
    )
    group.add_argument(
        "--summary",
        help="the machine-readable summary, JSON (default: the report's path with .json)",
    )
    group.add_argument(
        "--attribution-window",
        help="a purchase this long after a decision is its conversion (default: the variants "
        f"file's attribution_window, else {DEFAULT_ATTRIBUTION_WINDOW})",
    )
    group.add_argument(
        "--input-file", help="read the history from this JSON-lines file instead of Kafka"
    )
    group.add_argument(
        "--output-dir",
        help="where the variants' decision records, the purchases, dead letters and late "
        "events go; must be empty or new (default: a new directory beside the report)",
    )


def run_backtest(args: Any) -> dict[str, Any]:
    """Run ``journey-triggers backtest``: one Flink run, then the summary and the report."""
    import json
    import sys
    import time

    from jobs.triggers_job import job_from_args, plan_from_args, run_with_progress
    from journey_triggers.backtest import Purchase, summarize
    from journey_triggers.replay import iso
    from journey_triggers.report import render_report

    backtest = load_backtest(args.variants, scored=args.model is not None)
    window_ms = backtest.attribution_window_ms
    if args.attribution_window:
        window_ms = parse_duration_ms(args.attribution_window, what="--attribution-window")
    report = Path(args.report)
    summary_path = Path(args.summary) if args.summary else report.with_suffix(".json")
    output = Path(args.output_dir) if args.output_dir else _fresh_directory(report)
    if output.exists() and any(output.iterdir()):
        msg = f"--output-dir {output} is not empty: a backtest writes into a new directory"
        raise ConfigError(msg)
    history: dict[str, Any]
    if args.input_file:
        if args.bootstrap_servers:
            msg = "give --input-file or --bootstrap-servers, not both"
            raise ConfigError(msg)
        with open(args.input_file, "rb") as handle:
            total = sum(1 for _ in handle)
        history = {"source": args.input_file, "records": total}
        position: dict[str, Any] = {"input_file": args.input_file}
    else:
        plan = plan_from_args(args)
        print(plan.describe(), file=sys.stderr)
        total = plan.estimated_events
        history = {
            "source": f"{args.topic} at {args.bootstrap_servers}",
            "from": iso(plan.from_ms, "earliest"),
            "to": iso(plan.to_ms, "latest"),
            "records": total,
        }
        position = {
            "input_file": None,
            "input_topic": args.topic,
            "start_offsets": format_offsets(plan.start_offsets),
            "stop_offsets": format_offsets(plan.stop_offsets),
        }
        if args.dry_run:
            return {}
    fixed = {
        "start": "earliest",
        "bounded": False,
        "start_offsets": None,
        "stop_offsets": None,
        "input_topic": args.topic if hasattr(args, "topic") else "events",
        "rules": [],
        "policy": None,
        "policy_topic": None,
        "rules_topic": None,
        "profile_snapshots": False,
        "write_duplicates": False,
        "discard_output": False,
        "output_dir": str(output),
        **position,
    }
    for key, value in fixed.items():
        setattr(args, key, value)
    source, _, config = job_from_args(args)
    scans: list[str] = []

    def observe(rest: Any, job_id: str) -> None:
        if not scans:  # the job's scans of the history, to show that the variants share them
            names = [v["name"] for v in rest.rest(f"/jobs/{job_id}")["vertices"]]
            scans.extend(n for n in names if n.startswith(f"Source: {sql.SOURCE}["))

    started = time.monotonic()
    job_id = run_with_progress(
        config,
        lambda t_env: build_backtest(t_env, source, str(output), config, backtest.variants),
        total,
        label="backtest",
        quiet=args.no_progress,
        observe=observe,
    )
    ran_s = time.monotonic() - started
    purchases = [
        Purchase(r["customer_id"], r["ts_ms"], r.get("value"))
        for r in read_records(output / "purchases")
    ]
    activity = read_records(output / "activity")
    history["events"] = sum(row["events"] for row in activity)
    horizon_ms = max((row["last_ms"] for row in activity), default=None)
    if activity:
        history["first_event"] = iso(min(row["first_ms"] for row in activity))
        history["last_event"] = iso(horizon_ms)
    history["dead_letters"] = len(read_records(output / "dead_letters"))
    history["late_events"] = len(read_records(output / "late_events"))
    variants = [
        (v.name, v.rule_ids(), read_records(variant_directory(output, v)))
        for v in backtest.variants
    ]
    summary = summarize(
        variants, purchases, window_ms=window_ms, history=history, horizon_ms=horizon_ms
    )
    for part, variant in zip(summary["variants"], backtest.variants, strict=True):
        part["rule_files"] = list(variant.rule_files)
        part["policy_file"] = variant.policy_file
        part["policy_version"] = variant.policy.version
        part["description"] = variant.description
    summary["run"] = {
        "flink_seconds": round(ran_s, 3),
        "output_dir": str(output),
        "job_id": job_id,
        "source_scans": scans,
    }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_report(summary), encoding="utf-8")
    print(headline(summary))
    print(f"report: {report}\nsummary: {summary_path}\nrecords: {output}")
    return summary


def _fresh_directory(report: Path) -> Path:
    """Return a new directory beside the report for the run's records."""
    import time

    stamp = time.strftime("%Y%m%dT%H%M%S")
    candidate = report.parent / f"{report.stem}-records-{stamp}"
    number = 1
    while candidate.exists():
        number += 1
        candidate = report.parent / f"{report.stem}-records-{stamp}-{number}"
    return candidate


def headline(summary: dict[str, Any]) -> str:
    """Return the headline table of a summary, one line per variant, for the terminal."""
    rows = [
        ("variant", "candidates", "sent", "suppressed", "holdout", "msgs/cust", "lift (95% CI)")
    ]
    for v in summary["variants"]:
        lift = v["conversion"]["lift"]
        shown = "n/a"
        if lift:
            low, high = lift["ci95"]
            shown = f"{lift['absolute']:+.1%} ({low:+.1%} to {high:+.1%})"
        status = v["by_status"]
        rows.append(
            (
                v["name"],
                f"{v['candidates']:,}",
                f"{status['send']:,}",
                f"{status['suppressed']:,}",
                f"{status['holdout']:,}",
                f"{v['messages_per_customer']['mean']:.2f}",
                shown,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )
