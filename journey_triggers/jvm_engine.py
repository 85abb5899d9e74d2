"""Run the JVM rule engine (``jvm/operators``, package ``journeytriggers.engine``) outside Flink.

The engine's command-line driver, ``journeytriggers.engine.EngineCli``, reads a rule set's IR
(:mod:`journey_triggers.rules.ir`) and prepared events as JSON lines, feeds them through the
same buffering and evaluation code the Flink operator uses (in the order given, with a
watermark that trails the largest time seen), and prints the candidates it emits. The tests
hold those candidates equal to the reference evaluator's decisions over the same events.

An input line carries what the engine reads of an event once identities are stitched:
``customer_key`` (the state key), ``customer_id`` (what decisions name), ``ts_ms``,
``event_id``, ``event_type``, ``raw`` (the record's text, parsed by the engine), and, where the
upstream stages computed them, ``session_start_ms``, ``profile`` and ``score``.

``python -m journey_triggers.jvm_engine RULES... --events FILE --out DIR`` writes
``rules-ir.json``, ``events.jsonl`` and the reference's ``expected.jsonl`` for a by-hand run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from journey_triggers import jvm_build
from journey_triggers.events import Event, parse_event
from journey_triggers.rules.changes import RuleChange
from journey_triggers.rules.ir import rule_set_json
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.erasure import customer_of
from journey_triggers.semantics.evaluator import evaluate_rules, prepared

ENGINE_CLI = "journeytriggers.engine.EngineCli"
CANDIDATE_FIELDS = (
    "decision_id",
    "customer_id",
    "rule_id",
    "rule_version",
    "trigger_time_ms",
    "action",
    "channels",
    "payload",
    "cart",
    "explanation",
)
"""The fields a candidate shares with a decision before scoring, the catalog and the policy."""


def prepared_events(
    rules: Sequence[Rule], events: Sequence[Event], *, identity_window_ms: int = 0
) -> list[dict[str, Any]]:
    """Return the engine's input lines for on-time ``events``, prepared as the reference does."""
    stitched = prepared(
        [r for r in rules if r.enabled], events, identity_window_ms=identity_window_ms
    )
    return [
        {
            "customer_key": event.customer_key,
            "customer_id": customer_of(event.customer_key),
            "ts_ms": event.ts_ms,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "raw": event.raw,
            "session_start_ms": event.session_start_ms,
            "profile": event.profile,
            "score": event.score,
        }
        for event in stitched
    ]


def reference_candidates(
    rules: Sequence[Rule], events: Sequence[Event], *, identity_window_ms: int = 0
) -> list[dict[str, Any]]:
    """Return the reference evaluator's decisions, reduced to the candidate fields."""
    decisions = evaluate_rules(rules, events, identity_window_ms=identity_window_ms)
    return sorted(
        ({name: d.to_record()[name] for name in CANDIDATE_FIELDS} for d in decisions),
        key=lambda c: (c["decision_id"], c["rule_id"]),
    )


def engine_classpath() -> str:
    """Return the classpath of the engine's driver: the project's jar and PyFlink's own jars."""
    import pyflink

    lib = Path(pyflink.__file__).parent / "lib"
    jars = [jvm_build.operators_jar(), *sorted(lib.glob("*.jar"))]
    return ":".join(str(jar) for jar in jars)


def write_inputs(
    directory: Path,
    rules: Sequence[Rule],
    events: Sequence[Event],
    *,
    identity_window_ms: int = 0,
    shuffle_seed: int | None = None,
) -> tuple[Path, Path]:
    """Write ``rules-ir.json`` and ``events.jsonl`` (shuffled with a seed) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rules_path = directory / "rules-ir.json"
    rules_path.write_text(rule_set_json([r for r in rules if r.enabled]) + "\n")
    lines = prepared_events(rules, events, identity_window_ms=identity_window_ms)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(lines)
    events_path = directory / "events.jsonl"
    events_path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    return rules_path, events_path


def write_changes(directory: Path, changes: Sequence[RuleChange]) -> Path:
    """Write ``changes.jsonl`` (``RuleChange.to_json`` lines, arrival order) into ``directory``."""
    path = directory / "changes.jsonl"
    path.write_text("".join(change.to_json() + "\n" for change in changes))
    return path


def run_engine(
    rules_path: Path, events_path: Path, *, out_of_orderness_ms: int = 0
) -> list[dict[str, Any]]:
    """Run the engine's driver; return its candidates sorted by (decision id, rule id).

    Raise ``RuntimeError`` if it fails or drops an event as late.
    """
    return run_engine_with_changes(
        rules_path, events_path, None, out_of_orderness_ms=out_of_orderness_ms
    )[0]


def run_engine_with_changes(
    rules_path: Path,
    events_path: Path,
    changes_path: Path | None,
    *,
    out_of_orderness_ms: int = 0,
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """As :func:`run_engine`, with rule changes (``RuleChange.to_json`` lines, arrival order).

    Every change applies at its effective time (the driver reads them before any event).
    Return the candidates and the rejected changes' (line index, reason).
    """
    command = [
        "java",
        "-cp",
        engine_classpath(),
        ENGINE_CLI,
        "--rules",
        str(rules_path),
        "--events",
        str(events_path),
        "--out-of-orderness-ms",
        str(out_of_orderness_ms),
    ]
    if changes_path is not None:
        command += ["--changes", str(changes_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"{ENGINE_CLI} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    if "late events dropped" in result.stderr:
        # The inputs are on time by construction: a late drop means the bound was too small.
        msg = f"{ENGINE_CLI}: {result.stderr.strip()[-500:]}"
        raise RuntimeError(msg)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    rejected = [(line["rejected"], line["reason"]) for line in lines if "rejected" in line]
    candidates = [line for line in lines if "rejected" not in line]
    return sorted(candidates, key=lambda c: (c["decision_id"], c["rule_id"])), rejected


def _main(argv: Sequence[str] | None = None) -> int:
    from journey_triggers.rules.loader import load_rules

    parser = argparse.ArgumentParser(prog="python -m journey_triggers.jvm_engine")
    parser.add_argument("rules", nargs="+", help="rule files or directories")
    parser.add_argument("--events", required=True, type=Path, help="events, JSON lines")
    parser.add_argument("--out", required=True, type=Path, help="directory to write into")
    parser.add_argument("--identity-window-ms", type=int, default=0)
    args = parser.parse_args(argv)
    rules = [item.rule for item in load_rules(args.rules)]
    events = []
    for line in args.events.read_text().splitlines():
        parsed = parse_event(line)
        if isinstance(parsed, Event):
            events.append(parsed)
    write_inputs(args.out, rules, events, identity_window_ms=args.identity_window_ms)
    expected = reference_candidates(rules, events, identity_window_ms=args.identity_window_ms)
    (args.out / "expected.jsonl").write_text(
        "".join(json.dumps(c, sort_keys=True) + "\n" for c in expected)
    )
    print(f"{len(events)} events, {len(expected)} expected candidates in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
