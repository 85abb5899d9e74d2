"""``journey-triggers demo``: the whole job on the embedded default, start to finish.

Trains a propensity model on a generated history and writes the generator's product catalog,
starts the local broker, creates topics, produces seeded sample journeys (with a few malformed
records), runs the triggers job bounded on a local Flink minicluster with the model and the
catalog, reads the decisions back with ``read_committed``, checks them (ids and scores) against
the plain-Python semantics, prints a summary, and stops everything.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from journey_triggers import broker
from journey_triggers.catalog import read_catalog
from journey_triggers.events import Event, json_lines, parse_event
from journey_triggers.generator import GeneratorConfig, catalog_lines, generate
from journey_triggers.jobrunner import run_job
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late

if TYPE_CHECKING:
    from udfs.model import PropensityModel

_JOB_TIMEOUT_S = 600.0


def _fresh_broker_dir(state_dir: Path) -> Path:
    """Return an empty directory for the demo's own broker under ``state_dir``.

    The broker keeps its data across restarts; the demo starts from empty topics every time, so
    that it decides exactly the records it produced. A demo broker left running by an
    interrupted demo is stopped first.
    """
    directory = state_dir / "demo-broker"
    broker.stop_broker(directory)
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; return the process exit code."""
    from journey_triggers.cli import DEFAULT_TOPICS, _generator_config

    cfg = _generator_config(args)
    assert isinstance(cfg, GeneratorConfig)
    started = time.monotonic()
    state_dir = Path(args.state_dir)
    records = list(generate(cfg))
    print(f"generated {len(records)} records for {cfg.customers} customers (seed {cfg.seed})")
    state_dir.mkdir(parents=True, exist_ok=True)
    model_path, model = _train_demo_model(cfg, state_dir)
    catalog_path = state_dir / "demo-catalog.jsonl"
    catalog_path.write_text("".join(line + "\n" for line in catalog_lines(cfg.seed)))
    print(f"catalog: {catalog_path} ({len(catalog_lines(cfg.seed))} products)")
    with broker.running_broker(state_dir=_fresh_broker_dir(state_dir)) as handle:
        bootstrap = handle.bootstrap_servers
        broker.create_topics(bootstrap, DEFAULT_TOPICS)
        print(f"broker: Apache Kafka on {bootstrap} (pid {handle.pid})")
        produce(bootstrap, "events", records)
        print(
            f"produced {len(records)} records to 'events' ({DEFAULT_TOPICS['events']} partitions)"
        )
        with tempfile.TemporaryDirectory(prefix="jt-demo-") as tmp:
            log = state_dir / "demo-job.log"
            print(f"running the job on a local Flink minicluster (log: {log}) ...")
            job_started = time.monotonic()
            run_job(
                [
                    "--bootstrap-servers",
                    bootstrap,
                    "--bounded",
                    "--parallelism",
                    str(args.parallelism),
                    "--checkpoint-interval",
                    "2s",
                    "--flink-conf",
                    f"io.tmp.dirs={tmp}",
                    "--model",
                    str(model_path),
                    "--catalog-file",
                    str(catalog_path),
                ],
                timeout_s=_JOB_TIMEOUT_S,
                log_path=log,
            )
            job_seconds = time.monotonic() - job_started
        decisions = consume_json(bootstrap, "decisions", idle_timeout_s=3.0)
        dead = consume_json(bootstrap, "events.dlq", idle_timeout_s=2.0)
        late = consume_json(bootstrap, "events.late", idle_timeout_s=2.0)
    expected = _reference_decisions(records, model, catalog_path)
    got = {d["decision_id"]: (d["score"], d["model_version"]) for d in decisions}
    agrees = got == expected and len(decisions) == len(expected)
    print()
    print(f"job wall time: {job_seconds:.1f}s; demo total: {time.monotonic() - started:.1f}s")
    print(f"decisions: {len(decisions)}   dead letters: {len(dead)}   late events: {len(late)}")
    reasons = Counter(d["reason"] for d in dead)
    if reasons:
        print("dead-letter reasons: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())))
    verdict = "yes" if agrees else f"NO (reference has {len(expected)})"
    print(f"same decisions as the plain-Python reference semantics: {verdict}")
    print()
    for decision in sorted(decisions, key=lambda d: (d["trigger_time_ms"], d["decision_id"]))[
        : args.show
    ]:
        print(json.dumps(decision, sort_keys=True))
    print()
    print("broker stopped; nothing left running.")
    return 0 if agrees else 1


def _train_demo_model(cfg: GeneratorConfig, state_dir: Path) -> tuple[Path, PropensityModel]:
    """Train the demo's model on another seed's history (its own past, as in production)."""
    from journey_triggers.config import JobConfig
    from journey_triggers.training import examples, fit, read_history
    from udfs.model import dump_model, load_model_bytes

    started = time.monotonic()
    history_cfg = replace(cfg, seed=cfg.seed + 1000, customers=max(cfg.customers * 3, 600))
    history = read_history(
        ((0, line) for _, line in generate(history_cfg)), JobConfig().out_of_orderness_ms
    )
    trained = fit(examples(history.events, 86_400_000))
    path = state_dir / "demo-propensity.model"
    path.write_bytes(dump_model(trained.classifier, {"metrics": trained.metrics}))
    model = load_model_bytes(path.read_bytes(), str(path))
    print(
        f"model {model.version}: trained on {len(history.events)} historical events in "
        f"{time.monotonic() - started:.1f}s, holdout ROC AUC {trained.metrics['roc_auc_holdout']}"
    )
    return path, model


def _reference_decisions(
    records: list[tuple[str | None, str]], model: PropensityModel, catalog_path: Path
) -> dict[str, tuple[float | None, str | None]]:
    """Return the reference's decisions as {decision_id: (score, model version)}."""
    from journey_triggers.config import JobConfig

    valid = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    # Records reach several partitions, but with disorder below the bound none is late anyway.
    on_time = split_late(valid, JobConfig().out_of_orderness_ms).on_time
    catalog, _ = read_catalog(json_lines(catalog_path.read_text(encoding="utf-8")))
    decisions = evaluate_rules([cart_abandonment()], on_time, model=model, catalog=catalog)
    return {d.decision_id: (d.score, d.model_version) for d in decisions}
