"""Fault injection on a real standalone Flink cluster: decisions stay exactly once.

Each test starts a standalone cluster on localhost (``deploy/cluster.sh``) and submits the job
with the policy (a Python stage), bounded at the offsets where the whole history will end.
The first half of the history is on the topic at the start; once a checkpoint has committed
decisions, the second half is sent at a steady rate, and while it is still being sent (so the
job is provably mid-stream), the test injects one fault:

- ``kill -9`` of a Python worker process under the TaskManager (in ``make test``); if Flink
  registers no failure within ``NOTICED_S`` seconds, another worker is killed;
- ``kill -9`` of the TaskManager JVM; a fresh TaskManager then joins, as a supervisor
  (systemd, Kubernetes) would start one. This one runs in ``make soak``:
  ``test_standalone_cluster.py`` kills the TaskManager of its (policy-free) job in
  ``make test``.

Flink restarts the job from its latest checkpoint. The decisions topic, read as
``read_committed``, must then hold exactly the reference engine's decisions: none missing, none
twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.specs import format_offsets
from journey_triggers import broker
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume, consume_json, produce
from tests.cluster import Cluster
from tests.integration.conftest import _alive, _descendants, kafka_partition
from tests.integration.test_policy import DATA, assert_decides_as_reference, reference

pytestmark = pytest.mark.integration

TOPICS = {"f.events": 4, "f.decisions": 2, "f.dlq": 1, "f.late": 1, "f.erasures": 1}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own for each test: no test's job runs on a TaskManager that another
    test's fault replaced."""
    handle = Cluster(tmp_path / "flink")
    try:
        handle.run("start")
        yield handle
    finally:
        handle.run("stop")
    assert not handle.processes(), f"left running by the cluster: {handle.processes()}"


WORKER = "pyflink.fn_execution.beam.beam_boot"
"""The module a PyFlink Python worker runs (one per slot that has a Python operator)."""


def _python_workers(cluster: Cluster) -> dict[int, str]:
    """The cluster's running Python workers: their PIDs and command lines."""
    running = _alive(set(processes := cluster.processes()))
    return {
        pid: command for pid, command in processes.items() if pid in running and WORKER in command
    }


PARTITIONS = TOPICS["f.events"]


def _history() -> tuple[list[tuple[str | None, str]], list[dict[str, Any]], str]:
    """A generated history (in time order, keyed by device): its records, the reference's
    outputs, and the ``--stop-offsets`` where it ends on the (fresh) topic."""
    config = GeneratorConfig(customers=300, seed=23, horizon_ms=4 * 86_400_000)
    records = list(generate(config))
    events = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    ends = [0] * PARTITIONS
    for index, (key, _) in enumerate(records):
        ends[kafka_partition(key, index, PARTITIONS)] += 1
    return records, reference(events), format_offsets(tuple(enumerate(ends)))


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


def _failures(cluster: Cluster) -> int:
    """How many failures the running job has registered (its exception history)."""
    job_id = cluster.job()["jid"]
    return len(cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"])


def _run_with_fault(
    cluster: Cluster, bootstrap: str, inject: Callable[[], str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Submit, inject the fault once decisions are committed, wait; return the committed
    outputs and the reference's."""
    started = time.monotonic()
    broker.create_topics(bootstrap, TOPICS)
    records, expected, stop_offsets = _history()
    half = len(records) // 2

    def send(first: int, last: int, rate: float | None = None) -> None:
        chunk = records[first:last]
        produce(
            bootstrap,
            "f.events",
            chunk,
            rate=rate,
            partition_of=lambda index, key: kafka_partition(key, first + index, PARTITIONS),
        )

    send(0, half)
    print(
        f"first half ({half} records) produced and the reference computed in "
        f"{time.monotonic() - started:.0f} s; the job stops at {stop_offsets}"
    )
    submitted = cluster.run(
        "submit",
        "--bootstrap-servers", bootstrap,
        "--input-topic", "f.events",
        "--stop-offsets", stop_offsets,
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
    committed, deadline = 0, time.monotonic() + 240
    while committed == 0:
        assert time.monotonic() < deadline, "no decision was committed"
        time.sleep(0.2)
        committed = len(consume(bootstrap, "f.decisions", idle_timeout_s=0.5))
    # The second half, over SEND_S seconds: the fault comes while it is still being sent.
    rest = len(records) - half
    failed: list[BaseException] = []

    def send_rest() -> None:
        try:
            send(half, len(records), rest / SEND_S)
        except BaseException as error:  # shown by the test, not lost in the thread
            failed.append(error)

    sender = threading.Thread(target=send_rest)
    sender.start()
    try:
        _assert_policy_metrics_exported(cluster)
        what = inject()
        injected = time.monotonic()
        assert sender.is_alive(), "the history was all sent before the fault: not mid-stream"
    finally:
        sender.join()
    assert not failed, f"sending the second half failed: {failed[0]!r}"
    print(f"{what} after {committed} of {decisions} decisions were committed, mid-stream")
    deadline = time.monotonic() + 300
    while (state := cluster.job()["state"]) != "FINISHED":
        assert state != "FAILED", "the job failed instead of recovering"
        assert time.monotonic() < deadline, f"the job did not finish after the fault ({state})"
        time.sleep(1)
    failures = _failures(cluster)
    assert failures, "the job never failed: the fault was not injected"
    found = consume_json(
        bootstrap, "f.decisions", expected=decisions, idle_timeout_s=3, max_wait_s=120
    )
    outputs = found + consume_json(bootstrap, "f.erasures", expected=erasures, max_wait_s=60)
    aborted = len(consume(bootstrap, "f.decisions", committed=False, idle_timeout_s=2)) - len(found)
    # Nothing committed arrives after the expected count.
    assert len(consume_json(bootstrap, "f.decisions", idle_timeout_s=3)) == len(found)
    print(
        f"failures {failures}, finished {time.monotonic() - injected:.0f} s after the fault; "
        f"decisions expected {decisions}, found {len(found)}, aborted records skipped {aborted}"
    )
    return outputs, expected


SEND_S = 30
"""Seconds over which the second half of the history is sent (the fault comes within it)."""


NOTICED_S = 10
"""Seconds within which Flink has, every time so far, registered a killed worker's failure."""

KILLS = 3
"""Python workers killed at most, one after another, until Flink registers a failure."""


def test_a_killed_python_worker_recovers_with_exactly_the_reference_decisions(
    cluster, local_broker, no_leftover_processes
):
    before = _python_workers(cluster)
    assert not before, f"Python workers before the job: {before}"

    def kill_python_worker() -> str:
        deadline = time.monotonic() + 30
        while not (workers := _python_workers(cluster)):
            assert time.monotonic() < deadline, (
                "no Python worker under the TaskManager",
                {tm: sorted(_alive(_descendants(tm))) for tm in cluster.taskmanager_pids()},
                [
                    line[:200]
                    for line in subprocess.run(
                        ["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True
                    ).stdout.splitlines()
                    if "pyflink" in line or "python" in line
                ],
            )
            time.sleep(0.5)
        pid = max(workers)
        os.kill(pid, signal.SIGKILL)
        return f"kill -9 Python worker {pid} ({workers[pid][:120]}; 1 of {len(workers)})"

    def kill_until_noticed() -> str:
        """Kill a worker; if Flink has registered no failure NOTICED_S later, kill another.

        In 1 of about 30 runs (on 2026-12-02) a killed worker was never noticed: its tasks
        closed normally at the end (Beam fails a worker's tasks when its connection drops only
        if a bundle is in flight; see the README's Roadmap). The test then still needs a fault
        that Flink recovers from, so it kills the next worker."""
        kills, before = [], _failures(cluster)
        for _ in range(KILLS):
            kills.append(kill_python_worker())
            deadline = time.monotonic() + NOTICED_S
            while _failures(cluster) == before and time.monotonic() < deadline:
                time.sleep(0.5)
            if _failures(cluster) > before:
                return "; then ".join(kills)
            print(f"not registered by Flink {NOTICED_S} s after: {kills[-1]}")
        pytest.fail(f"Flink registered no failure after {KILLS} kills: {kills}")

    outputs, expected = _run_with_fault(cluster, local_broker.bootstrap_servers, kill_until_noticed)
    assert_decides_as_reference(outputs, expected)


@pytest.mark.soak
def test_a_killed_taskmanager_recovers_with_exactly_the_reference_decisions(
    cluster, local_broker, no_leftover_processes
):
    def kill_taskmanager() -> str:
        (pid,) = cluster.taskmanager_pids()
        workers = _python_workers(cluster)
        assert workers, "the TaskManager runs no Python worker"
        os.kill(pid, signal.SIGKILL)
        # Its workers can outlive it (re-parented to init); add-taskmanager stops them.
        added = cluster.run("add-taskmanager")
        assert not _alive(set(workers)), f"workers of the killed TaskManager: {workers}"
        stopped = "stopped by add-taskmanager" if "Python workers" in added else "gone by then"
        return f"kill -9 TaskManager {pid} (its {len(workers)} Python workers {stopped})"

    outputs, expected = _run_with_fault(cluster, local_broker.bootstrap_servers, kill_taskmanager)
    assert_decides_as_reference(outputs, expected)
