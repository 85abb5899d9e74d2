"""Fixtures that run real components: an Apache Kafka broker and a Flink minicluster."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jobs.specs import FileSinkSpec, FileSourceSpec, KafkaSinkSpec, SinkSpec, SourceSpec
from jobs.triggers_job import build_pipeline, create_table_env
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import json_lines
from journey_triggers.jobrunner import job_environment
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.conditions import as_number


def _descendants(root: int | None = None) -> set[int]:
    """PIDs of every process below ``root`` (default: this one: JVMs, brokers, workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [os.getpid() if root is None else root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.fixture(scope="session", autouse=True)
def flink_gateway() -> None:
    """Start PyFlink's gateway JVM once, before any test.

    In-process jobs share this JVM for the whole session; it exits when this process does
    (it watches its stdin pipe). Starting it up front keeps it out of the per-test leftover
    checks, which then see only what a test itself leaked.
    """
    from pyflink.java_gateway import get_gateway

    from jobs.triggers_job import use_this_python

    use_this_python()
    get_gateway()


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fail the test if it leaves a child process (broker, JVM, worker) running.

    A cancelled job's Python workers exit shortly after the job does: they get 30 s.
    """
    before = _descendants()
    yield
    deadline = time.monotonic() + 30
    while (leftover := _alive(_descendants() - before)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not leftover, f"processes left running: {sorted(leftover)}"


@pytest.fixture(scope="session")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker.BrokerHandle]:
    """One Apache Kafka broker for the whole session, stopped at its end."""
    state = tmp_path_factory.mktemp("shared-broker")
    with broker.running_broker(state_dir=state) as handle:
        yield handle
    assert broker.read_state(state) is None


@pytest.fixture
def local_broker(shared_broker: broker.BrokerHandle) -> Iterator[broker.BrokerHandle]:
    """The session's broker, as a test sees a fresh one: no topic or consumer group of another
    test. What the test creates is deleted after it, so the next test may use the same names.

    A test that stops, restarts or kills its broker starts one of its own instead
    (``test_broker.py``, ``test_broker_outage.py``).
    """
    bootstrap = shared_broker.bootstrap_servers
    before_topics, before_groups = broker.topics_and_groups(bootstrap)
    yield shared_broker
    topics, groups = broker.topics_and_groups(bootstrap)
    broker.delete_topics_and_groups(bootstrap, topics - before_topics, groups - before_groups)


def run_pipeline(
    source: SourceSpec,
    sink: SinkSpec,
    config: JobConfig,
) -> None:
    """Run the job in-process on a minicluster until its bounded input is done.

    A bounded run ends with a final checkpoint at the next interval, so a test that keeps the
    default interval (5 s) runs with 1 s: the decisions are the same, the wait is shorter.
    """
    if config.checkpoint_interval_ms == JobConfig.checkpoint_interval_ms:
        config = replace(config, checkpoint_interval_ms=1_000)
    t_env = create_table_env(config)
    build_pipeline(t_env, source, sink, config).execute().wait()


@contextlib.contextmanager
def live_job(source: SourceSpec, sink: SinkSpec, config: JobConfig) -> Iterator[Any]:
    """Submit the job to a minicluster, yield its client once it runs, cancel it after (unless
    the test did)."""
    t_env = create_table_env(config)
    client = build_pipeline(t_env, source, sink, config).execute().get_job_client()
    try:
        wait_until_running(client)
        yield client
    finally:
        if not client.get_job_status().result().is_globally_terminal_state():
            client.cancel().result()


def kafka_sink(bootstrap: str, prefix: str) -> KafkaSinkSpec:
    """Return an exactly-once Kafka sink to ``<prefix>.decisions``, ``.dlq``, ``.late`` and
    ``.erasures``."""
    return KafkaSinkSpec(
        bootstrap_servers=bootstrap,
        decisions_topic=f"{prefix}.decisions",
        dead_letter_topic=f"{prefix}.dlq",
        late_topic=f"{prefix}.late",
        erasure_topic=f"{prefix}.erasures",
        transactional_id_prefix=f"jt-{prefix}",
    )


def read_json_lines(directory: Path) -> list[dict[str, Any]]:
    """Read every finished part file a filesystem sink wrote under ``directory``."""
    records: list[dict[str, Any]] = []
    for part in sorted(directory.rglob("part-*")):
        if part.name.startswith("."):
            continue
        text = part.read_text(encoding="utf-8")
        records.extend(json.loads(line) for line in json_lines(text) if line)
    return records


def run_on_file(
    lines: list[str], tmp_path: Path, config: JobConfig, name: str = "run"
) -> dict[str, list[dict[str, Any]]]:
    """Write ``lines`` to a file, run the job over it, return what each sink wrote."""
    source = tmp_path / f"{name}-events.jsonl"
    source.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / f"{name}-out"
    run_pipeline(FileSourceSpec(str(source)), FileSinkSpec(str(out)), config)
    return {
        kind: read_json_lines(out / kind)
        for kind in ("decisions", "dead_letters", "late_events", "profiles")
    }


def _normalized(decision: dict[str, Any]) -> dict[str, Any]:
    """Payload numbers are text rendered by the JVM (1.0E20) or Python (1e+20): compare values."""
    payload = decision.get("payload")
    if not payload:
        return decision

    def value(text: str | None) -> object:
        number = as_number(text)
        return number if number is not None else text

    return {**decision, "payload": {k: value(v) for k, v in payload.items()}}


def assert_same_decisions(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Assert two decision lists are equal, reporting missing, extra and differing decisions."""
    got_by_id = {d["decision_id"]: _normalized(d) for d in got}
    expected_by_id = {d["decision_id"]: _normalized(d) for d in expected}
    missing = sorted(expected_by_id.keys() - got_by_id.keys())
    extra = sorted(got_by_id.keys() - expected_by_id.keys())
    differing = [
        k for k in expected_by_id.keys() & got_by_id.keys() if got_by_id[k] != expected_by_id[k]
    ]
    assert not (missing or extra or differing), (
        f"missing {len(missing)}: {[expected_by_id[k] for k in missing[:3]]}\n"
        f"extra {len(extra)}: {[got_by_id[k] for k in extra[:3]]}\n"
        f"differing {len(differing)}: "
        f"{[(got_by_id[k], expected_by_id[k]) for k in differing[:2]]}"
    )
    assert len(got) == len(expected), "duplicate decisions"


def journey_triggers_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``journey-triggers ARGS`` in a child process (its own JVM); return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "journey_triggers.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=job_environment(),
    )


def canonical_decisions(decisions: list[dict[str, Any]]) -> Counter[str]:
    """Return decisions as a multiset of canonical JSON texts, to compare runs exactly.

    A multiset: with a policy, a decision deferred by quiet hours is written twice under one
    ``decision_id`` (``deferred``, then ``send`` or ``suppressed``).
    """
    return Counter(json.dumps(_normalized(d), sort_keys=True) for d in decisions)


def wait_until_running(client: Any, timeout_s: float = 180) -> None:
    """Wait until a submitted job is RUNNING (its tasks deployed), or fail the test."""
    from pyflink.common import JobStatus

    deadline = time.monotonic() + timeout_s
    while client.get_job_status().result() != JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.5)


BROWSING_RULES = """
version: 1
rules:
  - id: browsing
    version: 1
    description: Any page view.
    trigger: {kind: event, on: {event: page_view}}
    output: {action: browse_nudge, channels: [email, sms]}
"""
"""One event rule, for the live policy tests: every page view is a candidate."""


def browsing_job(tmp_path: Path, **overrides: Any) -> JobConfig:
    """Return a live-test job of :data:`BROWSING_RULES`: parallelism 2, 1 s checkpoints and
    idle timeout, unless ``overrides`` say otherwise."""
    rules = tmp_path / "browsing-rules.yaml"
    rules.write_text(BROWSING_RULES)
    settings: dict[str, Any] = {
        "parallelism": 2,
        "checkpoint_interval_ms": 1_000,
        "idle_timeout_ms": 1_000,
        **overrides,
    }
    return JobConfig(rules=tuple(item.rule for item in load_rules([rules])), **settings)


def kafka_partition(key: str | None, index: int, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record: murmur2 of its key; a
    record without a key by turns (the ``index``-th record)."""
    from kafka.partitioner.default import murmur2

    if key is None:
        return index % partitions
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def create_job_topics(bootstrap: str, prefix: str, **partitions: int) -> None:
    """Create ``<prefix>.events`` and the :func:`kafka_sink` topics, one partition each unless
    ``partitions`` says otherwise (``events=2``; ``policy=1`` adds a control topic)."""
    kinds = {"events": 1, "decisions": 1, "dlq": 1, "late": 1, "erasures": 1, **partitions}
    broker.create_topics(bootstrap, {f"{prefix}.{kind}": n for kind, n in kinds.items()})


LIVE_T0 = 1_800_000_000_000


def page_view(customer: str, minute: int) -> tuple[str, str]:
    """Return a ``(key, JSON)`` page view of ``customer`` at ``minute`` after :data:`LIVE_T0`."""
    record = {
        "event_id": f"{customer}-{minute}",
        "event_type": "page_view",
        "customer_id": customer,
        "ts": LIVE_T0 + minute * 60_000,
    }
    return customer, json.dumps(record)
