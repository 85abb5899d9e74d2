"""``flink run -py`` on a real standalone Flink cluster started from the installed PyFlink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from journey_triggers import broker
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from tests.integration.conftest import assert_same_decisions

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _cluster(action: str, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "cluster.sh"), action, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _job_states(rest_port: int) -> list[str]:
    url = f"http://localhost:{rest_port}/jobs/overview"
    with urllib.request.urlopen(url, timeout=5) as response:
        return [job["state"] for job in json.load(response)["jobs"]]


def test_job_submitted_with_flink_run_gives_the_reference_decisions(
    tmp_path, local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(
        bootstrap, {"events": 4, "decisions": 2, "events.dlq": 1, "events.late": 1}
    )
    records = list(generate(GeneratorConfig(customers=80, seed=5)))
    produce(bootstrap, "events", records)
    rest_port, rpc_port = broker.free_port(), broker.free_port()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "JT_FLINK_STATE": str(tmp_path / "flink"),
        "JT_REST_PORT": str(rest_port),
        "JT_RPC_PORT": str(rpc_port),
    }
    try:
        # Inside the try: a start that fails half-way still gets its JVMs stopped.
        _cluster("start", env)
        submitted = _cluster(
            "submit",
            env,
            "--bootstrap-servers",
            bootstrap,
            "--bounded",
            "--checkpoint-interval",
            "2s",
            "--transactional-id-prefix",
            "jt-cluster-test",
        )
        assert "Job has been submitted with JobID" in submitted
        deadline = time.monotonic() + 180
        while _job_states(rest_port) != ["FINISHED"]:
            assert "FAILED" not in _job_states(rest_port)
            assert time.monotonic() < deadline, "the job did not finish on the cluster"
            time.sleep(1)
        listing = _cluster("list", env)
        assert "journey-triggers (FINISHED)" in listing
    finally:
        _cluster("stop", env)

    valid = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    expected = sorted(
        (d.to_record() for d in evaluate_rules([cart_abandonment()], valid)),
        key=lambda d: d["decision_id"],
    )
    decisions = consume_json(bootstrap, "decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(decisions, expected)
