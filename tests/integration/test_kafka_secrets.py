"""Kafka client secrets stay out of the job: placeholders in, resolved only by the Kafka client.

The job runs as a user runs it (``python -m jobs.triggers_job``, its own process and JVM) with
its bootstrap address and a SASL secret given as ``${env:...}`` placeholders. The Kafka client
resolves them from the environment: the job reads the topic, so the address was resolved. The
secret's value is nowhere in the job's output, its files or Flink's logs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pyflink
import pytest

from journey_triggers import broker
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.jobrunner import job_environment
from journey_triggers.kafka_io import produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from tests.integration.conftest import assert_same_decisions, read_json_lines

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-jaas-value-7f4e1c"


def test_secrets_given_as_placeholders_are_resolved_by_kafka_and_never_logged(
    tmp_path, local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(bootstrap, {"sec.events": 2})
    records = list(generate(GeneratorConfig(customers=40, seed=9)))
    produce(bootstrap, "sec.events", records)
    out = tmp_path / "out"
    started = time.time()
    env = {**job_environment(), "JT_TEST_BOOTSTRAP": bootstrap, "JT_TEST_SECRET": SECRET}
    result = subprocess.run(
        [
            sys.executable, "-m", "jobs.triggers_job",
            "--bootstrap-servers", "${env:JT_TEST_BOOTSTRAP}",
            "--input-topic", "sec.events",
            "--bounded",
            "--kafka-property", "sasl.jaas.config=${env:JT_TEST_SECRET}",
            "--output-dir", str(out),
            "--checkpoint-dir", (tmp_path / "checkpoints").as_uri(),
            "--checkpoint-interval", "1s",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    events = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    expected = [d.to_record() for d in evaluate_rules([cart_abandonment()], events)]
    assert expected
    assert_same_decisions(read_json_lines(out / "decisions"), expected)

    logs = [
        path
        for path in (Path(pyflink.__file__).parent / "log").glob("*")
        if path.is_file() and path.stat().st_mtime >= started
    ]
    assert logs, "the run wrote no Flink log: the check below would prove nothing"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in [*logs, *written]:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in result.stdout + result.stderr
    # The placeholder is what the job had; the Kafka client logs its config with the value
    # hidden, so the log names the property without the secret.
    assert any(b"sasl.jaas.config" in path.read_bytes() for path in logs)
