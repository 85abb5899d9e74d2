"""The ``journey-triggers`` command line: demo, broker, generate, validate, train, run, ..."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from journey_triggers import __version__
from journey_triggers.broker import DEFAULT_STATE_DIR
from journey_triggers.config import UNKNOWN_EVENT_TYPES
from journey_triggers.errors import ConfigError, JourneyTriggersError

DEFAULT_TOPICS = {"events": 4, "decisions": 2, "events.dlq": 1, "events.late": 1}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be >= 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=_positive_int, default=200, help="default: 200")
    parser.add_argument("--seed", type=int, default=7, help="default: 7")
    parser.add_argument(
        "--horizon", default="2d", help="time span the journeys are spread over (default: 2d)"
    )
    parser.add_argument(
        "--disorder",
        default="2s",
        help="maximum arrival disorder; keep it at or below the job's out-of-orderness "
        "(default: 2s)",
    )
    parser.add_argument(
        "--invalid-share",
        type=float,
        default=0.0,
        help="share of extra malformed records, for the dead-letter path (default: 0)",
    )


def _generator_config(args: argparse.Namespace) -> object:
    from journey_triggers.durations import parse_duration_ms
    from journey_triggers.generator import GeneratorConfig

    if not 0.0 <= args.invalid_share < 1.0:
        msg = f"--invalid-share must be in [0, 1), got {args.invalid_share}"
        raise ConfigError(msg)
    return GeneratorConfig(
        customers=args.customers,
        seed=args.seed,
        horizon_ms=parse_duration_ms(args.horizon, what="--horizon"),
        disorder_ms=parse_duration_ms(args.disorder, what="--disorder", allow_zero=True),
        invalid_share=args.invalid_share,
    )


def _cmd_broker(args: argparse.Namespace) -> int:
    from journey_triggers import broker

    state_dir = Path(args.state_dir)
    if args.action == "start":
        handle = broker.start_broker(args.port, state_dir)
        topics = dict(DEFAULT_TOPICS)
        if args.partitions:
            topics["events"] = args.partitions
        broker.create_topics(handle.bootstrap_servers, topics)
        print(f"broker running: pid {handle.pid}, bootstrap servers {handle.bootstrap_servers}")
        print(f"topics: {', '.join(f'{t} ({n} partitions)' for t, n in topics.items())}")
        print(f"log: {handle.log_path}")
    elif args.action == "stop":
        stopped = broker.stop_broker(state_dir)
        print(f"broker stopped (pid {stopped.pid})" if stopped else "no broker was running")
    else:
        running = broker.running_state(state_dir)
        if running is None:
            print(f"no broker running (state directory {state_dir})")
            return 1
        print(f"broker running: pid {running.pid}, bootstrap servers {running.bootstrap_servers}")
    return 0


def history_records(path: Path, record_time: str) -> tuple[list[tuple[str | None, str]], list[int]]:
    """Return a JSON-lines history's records, keyed by identity, and their record times.

    The key is the record's ``customer_id``, else ``anonymous_id``, else ``device_id`` (none
    for a record that is not a JSON object: it goes to a partition by turns, and the job
    dead-letters it). ``record_time`` ``event`` stamps each record with its event's ``ts``;
    a record without a valid one gets the previous record's time, so that a time range keeps
    it in its place. ``now`` leaves the time to the producer.
    """
    from journey_triggers.events import json_lines, load_json, parse_timestamp_ms

    text = path.read_text(encoding="utf-8", errors="replace")
    records: list[tuple[str | None, str]] = []
    times: list[int] = []
    for line in json_lines(text):
        try:
            document = load_json(line)
        except ValueError:
            document = None
        key = None
        ts = None
        if isinstance(document, dict):
            key = next(
                (
                    document[name]
                    for name in ("customer_id", "anonymous_id", "device_id")
                    if isinstance(document.get(name), str) and document[name]
                ),
                None,
            )
            ts = parse_timestamp_ms(document.get("ts"))
        records.append((key, line))
        times.append(ts if ts is not None else (times[-1] if times else 0))
    if record_time == "now":
        times = []
    return records, times


def _cmd_produce(args: argparse.Namespace) -> int:
    from journey_triggers.kafka_io import produce

    records, times = history_records(Path(args.file), args.record_time)
    count = produce(
        args.bootstrap_servers,
        args.topic,
        records,
        rate=args.rate,
        timestamp_of=(lambda i: times[i]) if times else None,
    )
    print(f"sent {count} records from {args.file} to {args.topic} on {args.bootstrap_servers}")
    return 0


def _cmd_load_catalog(args: argparse.Namespace) -> int:
    """Publish a catalog file to a topic, keyed by product id; refuse it if a line is invalid."""
    from journey_triggers.catalog import parse_catalog_record
    from journey_triggers.events import json_lines
    from journey_triggers.kafka_io import produce

    path = Path(args.file)
    try:
        lines = json_lines(path.read_text(encoding="utf-8"))
    except OSError as err:
        print(f"error: {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    records: list[tuple[str | None, str]] = []
    bad = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry = parse_catalog_record(line)
        if entry is None:
            bad.append(f"{path}:{number}: not a valid catalog record: {line[:120]}")
        else:
            records.append((entry.product_id, line))
    if bad:
        print("\n".join(["error: nothing was published", *bad]), file=sys.stderr)
        return 2
    sent = produce(args.bootstrap_servers, args.topic, records)
    print(f"published {sent} catalog records from {path} to {args.topic}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from journey_triggers.generator import GeneratorConfig, generate
    from journey_triggers.kafka_io import produce

    cfg = _generator_config(args)
    assert isinstance(cfg, GeneratorConfig)
    if args.catalog_output:
        from journey_triggers.generator import catalog_lines

        lines = catalog_lines(cfg.seed)
        Path(args.catalog_output).write_text("".join(line + "\n" for line in lines))
        print(f"wrote {len(lines)} catalog records to {args.catalog_output}")
    records = generate(cfg)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            count = 0
            for _, line in records:
                out.write(line + "\n")
                count += 1
        print(f"wrote {count} records to {args.output}")
    elif args.bootstrap_servers:
        count = produce(args.bootstrap_servers, args.topic, records, rate=args.rate)
        print(f"sent {count} records to {args.topic} on {args.bootstrap_servers}")
    else:
        msg = "give --output FILE or --bootstrap-servers"
        raise ConfigError(msg)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from jobs.triggers_job import run

    run(args)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from jobs.triggers_job import replay

    replay(args)
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    from jobs.backtest_job import run_backtest

    run_backtest(args)
    return 0


def _with_absolute_stores(value: Any, base: Path) -> Any:
    """Return a dumped rule with each store list's path made absolute (relative to ``base``)."""
    if isinstance(value, dict):
        out = {k: _with_absolute_stores(v, base) for k, v in value.items()}
        stores = out.get("stores")
        if isinstance(stores, str) and "max_km" in out and not Path(stores).is_absolute():
            out["stores"] = str((base / stores).resolve())
        return out
    if isinstance(value, list):
        return [_with_absolute_stores(v, base) for v in value]
    return value


def rule_change_messages(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Return the (rule id, message) records ``publish-rules`` sends.

    Each is checked on its own as the job checks it (the job also refuses score conditions that
    differ from its rule files, which this command cannot see); raise ``RuleChangeError`` or
    ``RuleFileError`` naming what is wrong.
    """
    from journey_triggers.rules.changes import RuleChangeError, parse_rule_change
    from journey_triggers.rules.loader import load_rules

    effective: dict[str, Any] = {}
    if args.effective_from is not None:
        text = args.effective_from
        effective["effective_from"] = int(text) if text.isdigit() else text
    messages: list[tuple[str, str, str]] = []
    for item in load_rules(args.rules) if args.rules else []:
        rule = item.rule.model_dump(mode="json", by_alias=True, exclude_none=True)
        rule = _with_absolute_stores(rule, Path(item.path).parent)
        where = f"{item.path}:{item.line}"
        messages.append((where, item.rule.id, json.dumps({"op": "put", **effective, "rule": rule})))
    for op in ("disable", "enable", "remove"):
        for rule_id in getattr(args, op) or []:
            message = json.dumps({"op": op, **effective, "rule_id": rule_id})
            messages.append((f"--{op} {rule_id}", rule_id, message))
    if not messages:
        msg = "nothing to publish: give rule files or --disable/--enable/--remove"
        raise RuleChangeError(msg)
    problems = []
    for where, _, message in messages:
        try:
            parse_rule_change(message, published_ms=0)
        except RuleChangeError as err:
            problems.append(f"{where}: {err}")
    if problems:
        raise RuleChangeError("\n".join(problems))
    return [(rule_id, message) for _, rule_id, message in messages]


def _cmd_publish_rules(args: argparse.Namespace) -> int:
    """Publish rule changes to the rules control topic of a running job."""
    from journey_triggers.kafka_io import produce
    from journey_triggers.rules.changes import RuleChangeError
    from journey_triggers.rules.loader import RuleFileError

    try:
        records = rule_change_messages(args)
    except RuleFileError as err:
        print("\n".join(["error: nothing was published", *map(str, err.problems)]), file=sys.stderr)
        return 1
    except RuleChangeError as err:
        print(f"error: nothing was published\n{err}", file=sys.stderr)
        return 1
    if args.dry_run:
        for _, message in records:
            print(message)
        return 0
    if not args.bootstrap_servers:
        print("error: --bootstrap-servers is required (or --dry-run)", file=sys.stderr)
        return 2
    sent = produce(args.bootstrap_servers, args.topic, records)
    print(f"published {sent} rule changes to {args.topic} on {args.bootstrap_servers}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from journey_triggers.rules.loader import RuleFileError, load_rules

    try:
        loaded = load_rules(args.rules)
    except RuleFileError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s) found", file=sys.stderr)
        return 1
    files = len({item.path for item in loaded})
    enabled = sum(item.rule.enabled for item in loaded)
    print(f"ok: {len(loaded)} rules ({enabled} enabled) in {files} file(s)")
    return 0


def _cmd_test_rules(args: argparse.Namespace) -> int:
    from journey_triggers.rules.fixtures import describe, fixture_files, run_fixture_file
    from journey_triggers.rules.loader import RuleFileError

    files = fixture_files(args.fixtures)
    if not files:
        msg = f"no *.test.yaml fixture files in {', '.join(args.fixtures)}"
        raise ConfigError(msg)
    failed = total = 0
    for file in files:
        try:
            results = run_fixture_file(file)
        except RuleFileError as err:
            raise ConfigError(str(err)) from err
        for result in results:
            total += 1
            if result.passed:
                continue
            failed += 1
            print(f"FAIL {result.path}:{result.line}: {result.name}")
            if result.error:
                print(f"  error: {result.error}")
            for trigger in result.missing:
                print(f"  missing:    {describe(trigger)}")
            for trigger in result.unexpected:
                print(f"  unexpected: {describe(trigger)}")
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from journey_triggers.rules.ir import RuleIRError, lower
    from journey_triggers.rules.loader import RuleFileError, load_rules

    try:
        loaded = {item.rule.id: item for item in load_rules(args.rules)}
    except RuleFileError as err:
        raise ConfigError(str(err)) from err
    item = loaded.get(args.rule_id)
    if item is None:
        known = ", ".join(sorted(loaded)) or "none"
        msg = f"no rule '{args.rule_id}' in {', '.join(args.rules)} (rules: {known})"
        raise ConfigError(msg)
    try:
        lowered = lower(item.rule)
    except RuleIRError as err:
        msg = f"{item.path}:{item.line}: {err}"
        raise ConfigError(msg) from err
    print(json.dumps(lowered.to_json(), indent=2))
    return 0


def _history_records(args: argparse.Namespace) -> list[tuple[int, str]]:
    """Return ``(partition, raw record)`` pairs of the training history, in arrival order."""
    if args.input_file:
        try:
            with open(args.input_file, "rb") as lines:  # binary: records end at b"\n" only
                return [
                    (0, line.decode("utf-8", errors="replace").rstrip("\r\n")) for line in lines
                ]
        except OSError as err:
            msg = f"{args.input_file}: cannot read the history: {err.strerror or err}"
            raise ConfigError(msg) from err
    if args.bootstrap_servers:
        from journey_triggers.kafka_io import consume_raw

        return consume_raw(args.bootstrap_servers, args.topic)
    msg = "give --input-file or --bootstrap-servers with --topic"
    raise ConfigError(msg)


def _cmd_train(args: argparse.Namespace) -> int:
    import json
    import time

    from journey_triggers.durations import parse_duration_ms
    from journey_triggers.training import examples, fit, read_history
    from udfs.model import dump_model, load_model_bytes

    started = time.monotonic()
    horizon_ms = parse_duration_ms(args.horizon, what="--horizon")
    history = read_history(
        _history_records(args),
        parse_duration_ms(args.out_of_orderness, what="--out-of-orderness", allow_zero=True),
        accept_unknown_types=args.unknown_event_types == "accept",
    )
    data = examples(
        history.events,
        horizon_ms,
        identity_window_ms=parse_duration_ms(
            args.identity_window, what="--identity-window", allow_zero=True
        ),
        dedup_horizon_ms=parse_duration_ms(
            args.dedup_horizon, what="--dedup-horizon", allow_zero=True
        ),
    )
    trained = fit(data, holdout=args.holdout, seed=args.seed)
    source = args.input_file or f"{args.bootstrap_servers}/{args.topic}"
    content = dump_model(
        trained.classifier,
        {
            "source": source,
            "events": len(history.events),
            "rejected": history.rejected,
            "late": history.late,
            "horizon": args.horizon,
            "metrics": trained.metrics,
        },
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(content)
    model = load_model_bytes(content, str(output))
    summary = {
        "model": str(output),
        "model_version": model.version,
        "events": len(history.events),
        "rejected": history.rejected,
        "rejected_reasons": history.rejected_reasons,
        "late": history.late,
        **trained.metrics,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from journey_triggers.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    from jobs.backtest_job import add_backtest_arguments
    from jobs.triggers_job import add_job_arguments, add_replay_arguments

    parser = argparse.ArgumentParser(
        prog="journey-triggers",
        description="Real-time personalization triggers from customer events, on PyFlink.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="start a local broker, generate sample events, run the job, show decisions",
        description="Start the local broker, create topics, produce seeded sample journeys, run "
        "the triggers job bounded on a local Flink minicluster, print a summary and some "
        "decisions, and stop everything.",
    )
    _add_generator_arguments(demo)
    demo.set_defaults(invalid_share=0.01)
    demo.add_argument("--show", type=int, default=5, help="decisions to print (default: 5)")
    demo.add_argument("--parallelism", type=_positive_int, default=2, help="default: 2")
    demo.add_argument(
        "--state-dir", default=str(DEFAULT_STATE_DIR), help="where broker state and logs go"
    )
    demo.set_defaults(func=_cmd_demo)

    broker = commands.add_parser(
        "broker",
        help="start, stop or check the local Apache Kafka broker",
        description="Manage the local Apache Kafka broker (KRaft, one node, loopback only). Its "
        "data stays in the state directory, so a restart keeps topics and committed records; "
        "`status` exits 1 when no broker runs. It is for the "
        "demo and tests; the job works against any Kafka.",
    )
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--port", type=int, help="loopback port (default: a free one)")
    broker.add_argument(
        "--partitions", type=_positive_int, help="partitions of the events topic (default: 4)"
    )
    broker.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="where the broker's data, PID file and log go (default: .journey-triggers)",
    )
    broker.set_defaults(func=_cmd_broker)

    gen = commands.add_parser(
        "generate",
        help="write seeded sample journeys to a file or a Kafka topic",
        description="Generate deterministic customer journeys: browsing, carts, abandonments, "
        "purchases, cross-device logins and email opens.",
    )
    _add_generator_arguments(gen)
    gen.add_argument("--output", help="write JSON lines to this file")
    gen.add_argument(
        "--catalog-output", help="also write the journeys' product catalog (JSON lines) here"
    )
    gen.add_argument("--bootstrap-servers", help="produce to Kafka at these servers")
    gen.add_argument("--topic", default="events", help="default: events")
    gen.add_argument("--rate", type=float, help="records per second (default: as fast as possible)")
    gen.set_defaults(func=_cmd_generate)

    producer = commands.add_parser(
        "produce",
        help="publish a JSON-lines history to a topic, each record at its event time",
        description="Send every line of a JSON-lines file to a topic, keyed by customer (else "
        "anonymous id, else device), as it is: invalid records too, so the job dead-letters "
        "them. Each record's Kafka timestamp is its event's ts, so `replay --from/--to` finds "
        "it by time.",
    )
    producer.add_argument("file", help="JSON-lines file of raw events")
    producer.add_argument("--bootstrap-servers", required=True)
    producer.add_argument("--topic", default="events", help="default: events")
    producer.add_argument(
        "--record-time",
        choices=("event", "now"),
        default="event",
        help="Kafka timestamp of each record: its event's ts (a record without one: the "
        "previous record's), or the time it is sent (default: event)",
    )
    producer.add_argument(
        "--rate", type=float, help="records per second (default: as fast as possible)"
    )
    producer.set_defaults(func=_cmd_produce)

    load = commands.add_parser(
        "load-catalog",
        help="publish a catalog file (JSON lines) to a compacted Kafka topic",
        description="Publish every record of a catalog file to a topic, keyed by product id, "
        "for a live job's --catalog-topic. An invalid line refuses the whole file, naming it.",
    )
    load.add_argument("file", help="catalog JSON-lines file")
    load.add_argument("--bootstrap-servers", required=True)
    load.add_argument("--topic", default="catalog", help="default: catalog")
    load.set_defaults(func=_cmd_load_catalog)

    publish = commands.add_parser(
        "publish-rules",
        help="publish rule changes to a running job's --rules-topic",
        description="Send rule changes to the rules control topic: a put of every rule of the "
        "rule files (a rule the job runs with the same version changes nothing), and disable, "
        "enable or remove by rule id. Every change is checked first as the job checks it; any "
        "problem publishes nothing and exits 1.",
    )
    publish.add_argument(
        "rules", nargs="*", metavar="RULES", help="rule files, or directories of *.yaml files"
    )
    publish.add_argument("--disable", action="append", metavar="RULE_ID", help="repeatable")
    publish.add_argument("--enable", action="append", metavar="RULE_ID", help="repeatable")
    publish.add_argument("--remove", action="append", metavar="RULE_ID", help="repeatable")
    publish.add_argument(
        "--effective-from",
        metavar="TIME",
        help="event time the changes take effect: epoch ms or ISO-8601 with a zone "
        "(default: when published)",
    )
    publish.add_argument("--bootstrap-servers", help="required unless --dry-run")
    publish.add_argument("--topic", default="rules", help="default: rules")
    publish.add_argument(
        "--dry-run", action="store_true", help="print the messages, one per line; send nothing"
    )
    publish.set_defaults(func=_cmd_publish_rules)

    validate = commands.add_parser(
        "validate",
        help="check rule files and report every problem with file:line and rule id",
        description="Parse and validate rule files (YAML). Exit 0 when all are valid, 1 when "
        "any problem is found; every problem names its file, line and rule.",
    )
    validate.add_argument(
        "rules", nargs="+", metavar="RULES", help="rule files, or directories of *.yaml files"
    )
    validate.set_defaults(func=_cmd_validate)

    test_rules = commands.add_parser(
        "test-rules",
        help="run rule fixtures (events in, expected triggers out) in milliseconds",
        description="Run *.test.yaml rule fixtures against the reference evaluator (no Flink). "
        "Exit 0 when every case passes, 1 otherwise; failures name file:line and case.",
    )
    test_rules.add_argument(
        "fixtures", nargs="+", metavar="FIXTURES", help="fixture files, or directories of them"
    )
    test_rules.set_defaults(func=_cmd_test_rules)

    explain = commands.add_parser(
        "explain",
        help="print a rule's IR, the form the rule engine runs",
        description="Lower one rule to its IR (schemas/rule-ir.v1.json), the form the JVM rule "
        "engine runs, and print it as JSON.",
    )
    explain.add_argument("rule_id", metavar="RULE", help="id of the rule to explain")
    explain.add_argument(
        "--rules",
        action="append",
        required=True,
        metavar="PATH",
        help="rule file or directory (repeatable)",
    )
    explain.set_defaults(func=_cmd_explain)

    train = commands.add_parser(
        "train",
        help="train the purchase-propensity model from historical events",
        description="Read historical events (a JSON-lines file or a Kafka topic), build one "
        "example per moment with the job's own feature definition, fit a gradient-boosting "
        "model on the earlier examples, report ROC AUC on the later ones (a time-based "
        "holdout), and write the model file, versioned by its content hash.",
    )
    train.add_argument("--input-file", help="history as JSON lines (one raw event per line)")
    train.add_argument("--bootstrap-servers", help="read the history from Kafka instead")
    train.add_argument("--topic", default="events", help="topic to read (default: events)")
    train.add_argument("--output", required=True, help="where to write the model file")
    train.add_argument(
        "--horizon",
        default="24h",
        help="label: the customer purchases within this long after the moment (default: 24h)",
    )
    train.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of the latest examples held out for ROC AUC (default: 0.2)",
    )
    train.add_argument(
        "--out-of-orderness",
        default="10s",
        help="late events are left out, as the job leaves them out (default: 10s)",
    )
    train.add_argument(
        "--identity-window",
        default="0ms",
        help="identity stitching window; use the job's (default: 0ms)",
    )
    train.add_argument(
        "--dedup-horizon",
        default="24h",
        help="copies of an event within this are counted once; use the job's (default: 24h)",
    )
    train.add_argument(
        "--unknown-event-types",
        choices=UNKNOWN_EVENT_TYPES,
        default="dead-letter",
        help="leave out records of an unknown event_type (dead-letter) or count them as "
        "activity (accept); use the job's (default: dead-letter)",
    )
    train.add_argument("--seed", type=int, default=0, help="model random seed (default: 0)")
    train.set_defaults(func=_cmd_train)

    run = commands.add_parser(
        "run",
        help="run the triggers job (local minicluster)",
        description="Run the triggers job on a local Flink minicluster. On a cluster, submit "
        "jobs/triggers_job.py with 'flink run -py' and the same flags.",
    )
    add_job_arguments(run)
    run.set_defaults(func=_cmd_run)

    replay = commands.add_parser(
        "replay",
        help="run the job bounded over a time range of a Kafka topic, with a progress bar",
        description="Replay the records of a topic whose Kafka timestamps are in [--from, --to) "
        "through the triggers job on a local Flink minicluster: the offsets come from Kafka's "
        "offsets-for-times (or a scan), the job reads exactly them, fires what is pending at "
        "the end, and writes to *.replay topics (or --output-dir). Decisions equal the live "
        "job's for the same events.",
    )
    add_replay_arguments(replay)
    add_job_arguments(replay, mode="replay")
    replay.set_defaults(func=_cmd_replay)

    backtest = commands.add_parser(
        "backtest",
        help="run rule and policy variants over one history in one Flink run; HTML report",
        description="Run every variant of a variants file over the same history (a JSON-lines "
        "file, or a time range of a Kafka topic) in ONE Flink run that shares the source, then "
        "write a self-contained HTML report (triggers per rule over time, suppression by "
        "reason, messages per customer, overlap between rules, conversion of treatment vs "
        "holdout with the lift and its confidence interval) and a JSON summary.",
    )
    add_backtest_arguments(backtest)
    add_replay_arguments(backtest)
    add_job_arguments(backtest, mode="backtest")
    backtest.set_defaults(func=_cmd_backtest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``journey-triggers`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except JourneyTriggersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
