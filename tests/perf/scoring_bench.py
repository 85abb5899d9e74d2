"""Benchmark: the pandas scoring UDF against a row-at-a-time Python UDF, same candidates.

Not part of ``make test``. Run it from a clone after the README's set-up::

    .venv/bin/python -m tests.perf.scoring_bench            # about 5 minutes on 2 cores

In one run, on the same machine:

1. a model is trained by the project (``journey_triggers.training``) on a generated history;
2. a second generated workload runs through the job three times, each a fresh JVM, with one
   rule that makes a candidate of every product view, page view and cart event and reads the
   profile, output to Flink's blackhole sink: **without a model** (the baseline: detection and
   the profile), with the **pandas** UDF, and with the **row** UDF. The scoring stage's time
   is a run's time minus the baseline's, and its throughput the candidates divided by that;
3. in-process, without Flink: ``udfs.scoring.score_rows`` over all candidates in batches of
   10,000 (Flink's default Arrow batch size) against one call per candidate, to show where
   the difference comes from.

The target (issue 5): the pandas UDF scores at least 10 times as many candidates per second as
the row UDF. The figures are printed, and appended to ``tests/perf/RESULTS.md`` with
``--results``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.semantics.erasure import with_epochs
from journey_triggers.semantics.identity import resolve_identities
from journey_triggers.semantics.lateness import split_late
from journey_triggers.semantics.profile import with_profiles
from journey_triggers.training import examples, fit, read_history
from tests.perf.bench import run_job
from udfs.model import dump_model, load_model_bytes
from udfs.scoring import score_rows

CANDIDATE_TYPES = ("page_view", "product_view", "add_to_cart", "checkout_started")
RULE = f"""version: 1
rules:
  - id: every_moment
    version: 1
    description: A candidate at every browsing and cart event.
    trigger: {{kind: event, on: {{event: [{", ".join(CANDIDATE_TYPES)}]}}}}
    conditions: {{field: profile.events, op: ">=", value: 1}}
    output: {{action: observe, channels: [email]}}
"""
"""Always true (the profile counts the anchor itself): it makes the baseline run compute and
carry the profile as the scored runs do, so that the difference is the scoring stage."""


def _lines(customers: int, seed: int) -> list[str]:
    config = GeneratorConfig(customers=customers, seed=seed, horizon_ms=7 * 86_400_000)
    return [line for _, line in generate(config)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scoring benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m tests.perf.scoring_bench")
    parser.add_argument("--customers", type=int, default=8000, help="workload size (8000)")
    parser.add_argument("--parallelism", type=int, default=2, help="default: 2")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="jt-scoring-bench-"))
    print(f"work directory: {work}", flush=True)
    history = read_history(((0, line) for line in _lines(3000, seed=1)), 10_000)
    trained = fit(examples(history.events, 86_400_000))
    model_path = work / "propensity.model"
    model_path.write_bytes(dump_model(trained.classifier, {"metrics": trained.metrics}))
    model = load_model_bytes(model_path.read_bytes())
    print(f"model {model.version}: holdout ROC AUC {trained.metrics['roc_auc_holdout']}")

    lines = _lines(args.customers, seed=2)
    events_file = work / "events.jsonl"
    events_file.write_text("".join(line + "\n" for line in lines))
    rules_file = work / "rules.yaml"
    rules_file.write_text(RULE)
    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    profiled = with_profiles(with_epochs(resolve_identities(split_late(valid, 10_000).on_time)))
    candidates = [e for e in profiled if e.event_type in CANDIDATE_TYPES]
    print(f"{len(lines):,} events, {len(candidates):,} candidates", flush=True)

    base = [
        sys.executable,
        "-m",
        "jobs.triggers_job",
        "--input-file",
        str(events_file),
        "--discard-output",
        "--rules",
        str(rules_file),
        "--parallelism",
        str(args.parallelism),
    ]
    scored = [*base, "--model", str(model_path)]
    runs = {
        "no model": run_job("no model", base, len(lines), work),
        "pandas UDF": run_job("pandas UDF", [*scored, "--scoring-udf", "pandas"], len(lines), work),
        "row UDF": run_job("row UDF", [*scored, "--scoring-udf", "row"], len(lines), work),
    }

    profiles = [json_text(e) for e in candidates]
    types = [e.event_type for e in candidates]
    times = [e.ts_ms for e in candidates]
    started = time.perf_counter()
    for start in range(0, len(candidates), 10_000):
        end = start + 10_000
        score_rows(model, profiles[start:end], types[start:end], times[start:end])
    batched_s = time.perf_counter() - started
    sample = min(len(candidates), 5_000)
    started = time.perf_counter()
    for i in range(sample):
        score_rows(model, profiles[i : i + 1], types[i : i + 1], times[i : i + 1])
    per_row_s = (time.perf_counter() - started) * len(candidates) / sample

    baseline = runs["no model"].seconds
    rows = [
        "| run | job s | scoring s | candidates/s scored |",
        "|---|---:|---:|---:|",
        f"| no model (detection only) | {baseline:.1f} | | |",
    ]
    rates = {}
    for name in ("pandas UDF", "row UDF"):
        spent = max(runs[name].seconds - baseline, 1e-3)
        rates[name] = len(candidates) / spent
        rows.append(f"| {name} | {runs[name].seconds:.1f} | {spent:.1f} | {rates[name]:,.0f} |")
    ratio = rates["pandas UDF"] / rates["row UDF"]
    in_process = len(candidates) / batched_s, len(candidates) / per_row_s
    table = "\n".join(
        [
            f"Scoring benchmark: {len(lines):,} events, {len(candidates):,} candidates, "
            f"parallelism {args.parallelism}, model {model.version}",
            "",
            *rows,
            "",
            f"pandas UDF / row UDF throughput: {ratio:.1f}x (target: at least 10x: "
            f"{'met' if ratio >= 10 else 'MISSED'})",
            f"in-process score_rows: batches of 10,000 {in_process[0]:,.0f}/s, one call per "
            f"candidate {in_process[1]:,.0f}/s ({in_process[0] / in_process[1]:.0f}x)",
        ]
    )
    print()
    print(table)
    if args.results is not None:
        with args.results.open("a", encoding="utf-8") as out:
            out.write("\n\n## Scoring UDFs\n\n" + table + "\n")
    return 0


def json_text(event: Event) -> str:
    """Return the event's profile as the job's UDF receives it: JSON text."""
    return json.dumps(event.profile)


if __name__ == "__main__":
    sys.exit(main())
