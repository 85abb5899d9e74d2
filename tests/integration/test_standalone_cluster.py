"""The job's whole life on a real standalone Flink cluster started from the installed PyFlink.

``deploy/cluster.sh`` starts the cluster; the job is submitted with ``flink run -py``, listed,
stopped with a savepoint in the middle of its input, resumed from that savepoint, and
cancelled; while it runs resumed, its TaskManager is killed (``kill -9``) and a fresh one joins.
Its decisions, read committed from Kafka, must be the reference engine's over the whole input:
none missing, none twice, across the stop and the recovery.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from jobs.jvm_streams import DEAD_LETTER_METRIC, LATE_METRIC
from journey_triggers import broker
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from tests.cluster import Cluster, savepoint_path, submitted_job_id
from tests.integration.conftest import assert_same_decisions

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _clock(partition: int, ts: int) -> tuple[str, str]:
    """A page view far after the history, one per partition: it moves event time past every
    abandonment window, as later traffic would."""
    record = {
        "event_id": f"clock-{partition}",
        "event_type": "page_view",
        "customer_id": f"clock-{partition}",
        "ts": ts,
    }
    return f"clock-{partition}", json.dumps(record)


def _bad_records(ts_ms: int) -> list[tuple[str, str]]:
    """Two dead letters, and a page view at ``ts_ms`` of a customer of its own."""
    late = {"event_id": "late-1", "event_type": "page_view", "customer_id": "late-1", "ts": ts_ms}
    return [
        ("bad-1", "not json"),
        ("bad-2", json.dumps({"event_type": "page_view"})),
        ("late-1", json.dumps(late)),
    ]


METRICS = (DEAD_LETTER_METRIC, LATE_METRIC)
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "journey-triggers.json"
PROMETHEUS_PREFIX = "flink_taskmanager_job_task_operator_"


def _counts(cluster: Cluster, job_id: str) -> tuple[float | None, ...]:
    return tuple(cluster.operator_metric(job_id, metric) for metric in METRICS)


def _assert_rule_metrics(cluster: Cluster, bootstrap: str) -> None:
    """The per-rule counts and the latency histogram, as Prometheus scrapes them, once the
    decisions of the input so far are all committed (nothing more is emitted then).

    Without a policy every trigger is a candidate and fired; none is suppressed.
    """

    def counts() -> tuple[float, ...]:
        found = []
        for name in ("rule_candidates", "rule_fired", "decision_latency_ms_count"):
            samples = cluster.prometheus_samples(f"{PROMETHEUS_PREFIX}{name}")
            found.append(
                sum(
                    v
                    for labels, v in samples
                    if "cart_abandonment" in labels or not name.startswith("rule_")
                )
            )
        return tuple(found)

    deadline = time.monotonic() + 60
    while True:
        committed = len(consume_json(bootstrap, "decisions", idle_timeout_s=2))
        if counts() == (committed,) * 3:
            break
        assert time.monotonic() < deadline, (counts(), committed)
        time.sleep(1)
    assert cluster.prometheus_samples(f"{PROMETHEUS_PREFIX}rule_reason_suppressed") == []
    latency = cluster.prometheus_samples(f"{PROMETHEUS_PREFIX}decision_latency_ms")
    quantiles = {labels.split('quantile="')[1].split('"')[0] for labels, _ in latency}
    assert {"0.5", "0.95", "0.99"} <= quantiles, latency


def test_submit_list_stop_with_savepoint_resume_and_cancel_lose_and_repeat_no_decision(
    tmp_path, local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(
        bootstrap, {"events": PARTITIONS, "decisions": 2, "events.dlq": 1, "events.late": 1}
    )
    records = list(generate(GeneratorConfig(customers=80, seed=5)))
    half = len(records) // 2
    events = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    end = max(e.ts_ms for e in events) + 3 * 86_400_000
    clocks = [_clock(p, end) for p in range(PARTITIONS)]
    expected = sorted(
        (d.to_record() for d in evaluate_rules([cart_abandonment()], events)),
        key=lambda d: d["decision_id"],
    )
    flags = (
        "--bootstrap-servers", bootstrap,
        "--checkpoint-interval", "2s",
        "--transactional-id-prefix", "jt-cluster-test",
    )  # fmt: skip
    cluster = Cluster(tmp_path / "flink")
    try:
        # Inside the try: a start that fails half-way still gets its JVMs stopped.
        cluster.run("start")
        produce(bootstrap, "events", records[:half])
        # Two dead letters and a late event (an hour behind its partition), which the
        # cart-abandonment reference does not see: a page view of a customer of its own.
        bad = _bad_records(min(e.ts_ms for e in events) - 3_600_000)
        produce(bootstrap, "events", bad, partition_of=lambda _index, _key: 0)
        submitted_at = time.monotonic()
        first_id = submitted_job_id(cluster.run("submit", *flags))
        cluster.wait_for_state(first_id, "RUNNING")
        first = consume_json(bootstrap, "decisions", expected=1, max_wait_s=120)
        print(f"submit to first decision: {time.monotonic() - submitted_at:.1f} s")
        assert first, "no decision before the stop"
        assert f"{first_id} : journey-triggers (RUNNING)" in cluster.run("list")
        dead = consume_json(bootstrap, "events.dlq", expected=2, max_wait_s=60)
        late = consume_json(bootstrap, "events.late", expected=1, max_wait_s=60)
        assert sorted(d["reason"] for d in dead) == ["missing_event_id", "not_a_json_object"]
        assert [r["reason"] for r in late] == ["behind_partition"]
        # The same counts as Flink metrics (the JobManager refreshes them every few seconds).
        deadline = time.monotonic() + 60
        while (counts := _counts(cluster, first_id)) != (2.0, 1.0):
            assert time.monotonic() < deadline, f"dead letters and late events: {counts}"
            time.sleep(1)
        # And on the Prometheus reporter's endpoints of the cluster.
        scraped = tuple(cluster.prometheus(f"{PROMETHEUS_PREFIX}{m}") for m in METRICS)
        assert scraped == (2.0, 1.0), scraped
        # Every metric the Grafana dashboard charts is one the cluster exports (suppression
        # needs a policy, which this job has not: test_policy_kafka.py reads that count).
        charted = set(re.findall(r"flink_\w+", DASHBOARD.read_text()))
        assert len(charted) >= 12
        missing = (
            charted - cluster.prometheus_names() - {f"{PROMETHEUS_PREFIX}rule_reason_suppressed"}
        )
        assert not missing, f"charted but not exported: {sorted(missing)}"

        # The first half is decided: the per-rule counts equal what was committed.
        _assert_rule_metrics(cluster, bootstrap)

        stopped = cluster.run("stop-with-savepoint", first_id)
        savepoint = savepoint_path(stopped)
        cluster.wait_for_state(first_id, "FINISHED")
        before = consume_json(bootstrap, "decisions", idle_timeout_s=3)
        print(f"stopped with {len(before)} decisions committed; savepoint {savepoint}")
        assert 0 < len(before) < len(expected), "the stop was not in the middle of the input"

        # What arrives while the job is stopped is read after the resume; the rest arrives while
        # it runs, and the TaskManager is killed (kill -9) mid-stream. A fresh one joins, as a
        # supervisor would start one, and Flink recovers from the latest checkpoint.
        three_quarters = (half + len(records)) // 2
        produce(bootstrap, "events", records[half:three_quarters])
        resumed_id = submitted_job_id(cluster.run("resume", savepoint, *flags))
        cluster.wait_for_state(resumed_id, "RUNNING")
        rest = records[three_quarters:]
        producer = threading.Thread(
            target=produce, args=(bootstrap, "events", rest), kwargs={"rate": len(rest) / 10}
        )
        producer.start()
        deadline = time.monotonic() + 120
        while len(consume_json(bootstrap, "decisions", idle_timeout_s=1)) <= len(before):
            assert time.monotonic() < deadline, "the resumed job committed no decision"
        (taskmanager,) = cluster.taskmanager_pids()
        os.kill(taskmanager, signal.SIGKILL)
        killed_at = time.monotonic()
        cluster.run("add-taskmanager")
        producer.join()
        produce(bootstrap, "events", clocks, partition_of=lambda index, _key: index)
        decisions = consume_json(
            bootstrap, "decisions", expected=len(expected), idle_timeout_s=30, max_wait_s=240
        )
        failures = cluster.rest(f"/jobs/{resumed_id}/exceptions")["exceptionHistory"]["entries"]
        assert failures, "the resumed job never failed: the TaskManager was not killed"
        print(f"after the kill: {len(failures)} failure(s), all {len(decisions)} decisions")
        print(f"decided {time.monotonic() - killed_at:.0f} s after the kill")
        cluster.run("cancel", resumed_id)
        cluster.wait_for_state(resumed_id, "CANCELED")
        listing = cluster.run("list")
        assert f"{resumed_id} : journey-triggers (CANCELED)" in listing
        assert f"{first_id} : journey-triggers (FINISHED)" in listing
    finally:
        cluster.run("stop")
    assert not cluster.processes(), f"left running by the cluster: {cluster.processes()}"

    ids = [d["decision_id"] for d in decisions]
    assert len(ids) == len(set(ids)), "a decision was written twice"
    assert_same_decisions(decisions, expected)
    assert {d["decision_id"] for d in before} <= set(ids)
