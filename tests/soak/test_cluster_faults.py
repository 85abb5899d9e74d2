"""Fault injection on a real standalone Flink cluster: decisions stay exactly once.

Each test starts a standalone cluster on localhost (``deploy/cluster.sh``), submits the job
with the policy (a Python stage) over a bounded Kafka history, and, once a checkpoint has
committed decisions, injects one fault:

- ``kill -9`` of the TaskManager JVM; a fresh TaskManager then joins, as a supervisor
  (systemd, Kubernetes) would start one;
- ``kill -9`` of a Python worker process under the TaskManager.

Flink restarts the job from its latest checkpoint. The decisions topic, read committed
(``journey_triggers/kafka_log.py``), must then hold exactly the reference engine's decisions:
none missing, none twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from journey_triggers import broker
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.kafka_log import CommittedLogReader, read_committed
from tests.cluster import Cluster
from tests.integration.conftest import _alive, _descendants
from tests.integration.test_policy import DATA, assert_decides_as_reference, reference

pytestmark = [pytest.mark.integration, pytest.mark.soak]

TOPICS = {"f.events": 4, "f.decisions": 2, "f.dlq": 1, "f.late": 1, "f.erasures": 1}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for both tests (each ends with its job finished)."""
    handle = Cluster(tmp_path_factory.mktemp("cluster") / "flink")
    try:
        handle.run("start")
        yield handle
    finally:
        handle.run("stop")


def _python_workers(cluster: Cluster) -> set[int]:
    """The Python processes under the TaskManager (PyFlink's workers)."""
    workers = set()
    for tm in cluster.taskmanager_pids():
        for pid in _alive(_descendants(tm)):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command and b"python" in Path(command[0].decode()).name.encode():
                workers.add(pid)
    return workers


def _history(bootstrap: str) -> list[dict[str, Any]]:
    """Produce a generated history (in time order, keyed by device) and return the reference."""
    config = GeneratorConfig(customers=300, seed=23, horizon_ms=4 * 86_400_000)
    records = list(generate(config))
    events = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    produce(bootstrap, "f.events", records)
    return reference(events)


PROMETHEUS_PREFIX = "flink_taskmanager_job_task_operator_"


def _assert_policy_metrics_exported(cluster: Cluster) -> None:
    """A policy job's per-rule metrics are on the cluster's Prometheus endpoints: candidates
    (counted in the Python stage), fired and suppressed by reason (in the JVM after it)."""
    deadline = time.monotonic() + 30
    while True:
        found = {
            name: cluster.prometheus_samples(f"{PROMETHEUS_PREFIX}{name}")
            for name in ("rule_candidates", "rule_fired", "rule_reason_suppressed")
        }
        if all(found.values()):
            break
        assert time.monotonic() < deadline, (
            {k: len(v) for k, v in found.items()},
            sorted(n for n in cluster.prometheus_names() if "rule" in n or "late" in n),
            len(cluster._scrape()),
        )
        time.sleep(1)
    reasons = {
        labels.split('reason="')[1].split('"')[0] for labels, _ in found["rule_reason_suppressed"]
    }
    print(f"suppression reasons exported: {sorted(reasons)}")
    # Python metrics reach the JVM when a bundle ends, so the counts are not compared here
    # (test_policy_kafka.py compares them exactly, once the job is quiet).
    assert all(value > 0 for _, value in found["rule_candidates"] + found["rule_fired"])


def _run_with_fault(
    cluster: Cluster, bootstrap: str, inject: Callable[[], str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Submit, inject the fault once decisions are committed, wait; return the committed
    outputs and the reference's."""
    started = time.monotonic()
    broker.create_topics(bootstrap, TOPICS)
    expected = _history(bootstrap)
    print(f"history produced and its reference computed in {time.monotonic() - started:.0f} s")
    submitted = cluster.run(
        "submit",
        "--bootstrap-servers", bootstrap,
        "--input-topic", "f.events",
        "--bounded",
        "--rules", str(DATA / "policy_rules.yaml"),
        "--policy", str(DATA / "policy.yaml"),
        "--decisions-topic", "f.decisions",
        "--dead-letter-topic", "f.dlq",
        "--late-topic", "f.late",
        "--erasure-topic", "f.erasures",
        "--transactional-id-prefix", "jt-faults",
        "--checkpoint-interval", "2s",
    )  # fmt: skip
    assert "Job has been submitted with JobID" in submitted
    erasures = sum(1 for output in expected if output.get("type") == "erasure")
    decisions = len(expected) - erasures
    with CommittedLogReader(bootstrap, "f.decisions", [0, 1]) as reader:
        committed, deadline = 0, time.monotonic() + 240
        while committed == 0:
            assert time.monotonic() < deadline, "no decision was committed"
            committed += len(reader.poll(max_wait_ms=200))
    assert committed < decisions, "the job was done before the fault: it proves nothing"
    _assert_policy_metrics_exported(cluster)
    what = inject()
    injected = time.monotonic()
    print(f"{what} after {committed} of {decisions} decisions were committed")
    deadline = time.monotonic() + 300
    while (state := cluster.job()["state"]) != "FINISHED":
        assert state != "FAILED", "the job failed instead of recovering"
        assert time.monotonic() < deadline, f"the job did not finish after the fault ({state})"
        time.sleep(1)
    job_id = cluster.job()["jid"]
    history = cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    assert history, "the job never failed: the fault was not injected"
    found, aborted = read_committed(
        bootstrap, "f.decisions", [0, 1], expected=decisions, idle_timeout_s=3, max_wait_s=120
    )
    outputs = [json.loads(record.value or b"") for record in found]
    outputs += consume_json(bootstrap, "f.erasures", expected=erasures, max_wait_s=60)
    # Nothing committed arrives after the expected count.
    assert len(consume_json(bootstrap, "f.decisions", idle_timeout_s=3)) == len(found)
    print(
        f"failures {len(history)}, finished {time.monotonic() - injected:.0f} s after the fault; "
        f"decisions expected {decisions}, found {len(found)}, aborted records skipped {aborted}"
    )
    return outputs, expected


def test_a_killed_taskmanager_recovers_with_exactly_the_reference_decisions(
    cluster, local_broker, no_leftover_processes
):
    def kill_taskmanager() -> str:
        (pid,) = cluster.taskmanager_pids()
        os.kill(pid, signal.SIGKILL)
        cluster.run("add-taskmanager")
        return f"kill -9 TaskManager {pid}"

    outputs, expected = _run_with_fault(cluster, local_broker.bootstrap_servers, kill_taskmanager)
    assert_decides_as_reference(outputs, expected)


def test_a_killed_python_worker_recovers_with_exactly_the_reference_decisions(
    cluster, local_broker, no_leftover_processes
):
    def kill_python_worker() -> str:
        deadline = time.monotonic() + 30
        while not (workers := _python_workers(cluster)):
            assert time.monotonic() < deadline, (
                "no Python worker under the TaskManager",
                {tm: sorted(_alive(_descendants(tm))) for tm in cluster.taskmanager_pids()},
                subprocess.run(
                    ["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True
                ).stdout.count("python"),
                [
                    line[:160]
                    for line in subprocess.run(
                        ["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True
                    ).stdout.splitlines()
                    if "pyflink" in line or "python" in line
                ],
            )
            time.sleep(0.5)
        pid = max(workers)
        os.kill(pid, signal.SIGKILL)
        return f"kill -9 Python worker {pid} (of {len(workers)})"

    outputs, expected = _run_with_fault(cluster, local_broker.bootstrap_servers, kill_python_worker)
    assert_decides_as_reference(outputs, expected)
