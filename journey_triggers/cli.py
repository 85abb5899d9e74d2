"""The ``journey-triggers`` command line: demo, broker, generate, run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from journey_triggers import __version__
from journey_triggers.broker import DEFAULT_STATE_DIR
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
        running = broker.read_state(state_dir)
        print(f"broker running: {running.bootstrap_servers}" if running else "no broker running")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from journey_triggers.generator import GeneratorConfig, generate
    from journey_triggers.kafka_io import produce

    cfg = _generator_config(args)
    assert isinstance(cfg, GeneratorConfig)
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
    from jobs.compile import RuleCompileError, compile_rule
    from journey_triggers.config import JobConfig
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
        insert = compile_rule(item.rule)
    except RuleCompileError as err:
        msg = f"{item.path}:{item.line}: {err}"
        raise ConfigError(msg) from err
    print(f"-- rule '{item.rule.id}' v{item.rule.version} ({item.path}:{item.line})")
    print(f"-- {item.rule.description}")
    print(insert + ";")
    if args.plan:
        from jobs.specs import FileSinkSpec, FileSourceSpec
        from jobs.triggers_job import build_pipeline, create_table_env

        config = JobConfig(rules=(item.rule,))
        t_env = create_table_env(config)
        statements = build_pipeline(
            t_env, FileSourceSpec("/dev/null"), FileSinkSpec("/tmp/jt-explain"), config
        )
        print()
        print(statements.explain())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from journey_triggers.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    from jobs.triggers_job import add_job_arguments

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
        help="start, stop or check the local tansu broker",
        description="Manage the local in-memory Kafka-protocol broker (tansu). It is for the "
        "demo and tests; the job works against any Kafka.",
    )
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--port", type=int, help="loopback port (default: a free one)")
    broker.add_argument(
        "--partitions", type=_positive_int, help="partitions of the events topic (default: 4)"
    )
    broker.add_argument(
        "--state-dir", default=str(DEFAULT_STATE_DIR), help="where the PID file and log go"
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
    gen.add_argument("--bootstrap-servers", help="produce to Kafka at these servers")
    gen.add_argument("--topic", default="events", help="default: events")
    gen.add_argument("--rate", type=float, help="records per second (default: as fast as possible)")
    gen.set_defaults(func=_cmd_generate)

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
        help="print the Flink SQL a rule compiles to (and, with --plan, the job plan)",
        description="Compile one rule and print its Flink SQL INSERT; with --plan, also the "
        "optimized Flink plan of the whole job running that rule (starts a JVM).",
    )
    explain.add_argument("rule_id", metavar="RULE", help="id of the rule to explain")
    explain.add_argument(
        "--rules",
        action="append",
        required=True,
        metavar="PATH",
        help="rule file or directory (repeatable)",
    )
    explain.add_argument("--plan", action="store_true", help="also print the Flink job plan")
    explain.set_defaults(func=_cmd_explain)

    run = commands.add_parser(
        "run",
        help="run the triggers job (local minicluster)",
        description="Run the triggers job on a local Flink minicluster. On a cluster, submit "
        "jobs/triggers_job.py with 'flink run -py' and the same flags.",
    )
    add_job_arguments(run)
    run.set_defaults(func=_cmd_run)
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
