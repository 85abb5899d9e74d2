"""The decision policy on Kafka: live policy updates from the control topic.

A running job (unbounded Kafka input) decides with the policy it started with; a new
version published on the control topic takes effect without a restart; invalid and stale
control messages go to the dead letters with their reason, and the version in force stays.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.flink_rest import FlinkRest
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.policy import parse_policy_text
from tests.integration.conftest import (
    browsing_job,
    create_job_topics,
    kafka_sink,
    live_job,
    page_view,
)

pytestmark = pytest.mark.integration


def test_a_policy_published_on_the_control_topic_applies_without_a_restart(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    rest_port = broker.free_port()  # the minicluster's REST API, for the metrics
    create_job_topics(bootstrap, "c", policy=1)
    config = browsing_job(
        tmp_path,
        # Parallelism 2: a live job lost the last events before a pause there, until no idle
        # status went past the lateness checks (jvm_streams.never_idle).
        parallelism=2,
        policy=parse_policy_text("version: 1\n", source="start"),
        policy_topic=KafkaSourceSpec(bootstrap_servers=bootstrap, topic="c.policy"),
        flink_conf={"rest.port": str(rest_port)},
    )
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="c.events")
    started = time.time() * 1000
    with live_job(source, kafka_sink(bootstrap, "c"), config) as client:
        # Version 1: sent. The later view moves event time past the first.
        produce(bootstrap, "c.events", [page_view("ann", 0), page_view("bob", 1)])
        first = consume_json(bootstrap, "c.decisions", expected=1, max_wait_s=180)
        assert [(d["customer_id"], d["status"], d["policy_version"]) for d in first] == [
            ("ann", "send", 1)
        ]

        # Version 2 disables the rule and moves the channel; then an invalid message and a
        # stale version, which must not replace it.
        version_2 = "version: 2\nrules:\n  browsing: {enabled: false}\n"
        invalid = "version: 3\ncaps:\n  - {max: 1, per: 1 day}\n"
        stale = '{"version": 1}'
        produce(bootstrap, "c.policy", [(None, version_2), (None, invalid), (None, stale)])
        dead = consume_json(bootstrap, "c.dlq", expected=2, max_wait_s=180)
        reasons = sorted((d["reason"].split(":")[0], d["raw"], d["source"]) for d in dead)
        assert reasons == [
            ("invalid_control_message", invalid, "c.policy"),
            ("stale_policy_version", stale, "c.policy"),
        ]
        assert "caps.0.per" in next(d["reason"] for d in dead if d["raw"] == invalid)
        time.sleep(2)  # the control topic goes idle again
        produce(bootstrap, "c.events", [page_view("cat", 2), page_view("dan", 3)])
        # Then traffic keeps flowing, a view a minute of event time each second, as in
        # production: after a control message while the events were quiet, the policy stage
        # can wait for the next event to move event time on (see the README's known limits).
        every: list[dict[str, Any]] = []
        minute, deadline = 4, time.monotonic() + 180
        while not {"bob", "cat"} <= {d["customer_id"] for d in every}:
            assert time.monotonic() < deadline, every
            produce(bootstrap, "c.events", [page_view("zed", minute)])
            minute += 1
            every = consume_json(bootstrap, "c.decisions", idle_timeout_s=1, max_wait_s=5)
        outcome = {d["customer_id"]: (d["status"], d["reason"], d["policy_version"]) for d in every}
        assert outcome.pop("ann") == ("send", None, 1)
        # Everyone after the change, zed's views included, is decided by version 2.
        assert set(outcome.values()) == {("suppressed", "rule_disabled", 2)}, outcome
        assert {"bob", "cat"} <= outcome.keys()
        _assert_rule_metrics(FlinkRest(rest_port), str(client.get_job_id()), bootstrap, started)


def _assert_rule_metrics(rest: FlinkRest, job_id: str, bootstrap: str, started_ms: float) -> None:
    """The per-rule counts, as Flink metrics, match the decisions written.

    Each candidate is decided once (no feedback here, so no fallback decisions): candidates
    (counted in the Python stage) = fired + suppressed (counted in the JVM after it). Python
    metrics reach the JVM when a bundle ends, so the counts are polled.
    """
    deadline = time.monotonic() + 60
    while True:
        written = consume_json(bootstrap, "c.decisions", idle_timeout_s=1, max_wait_s=5)
        sent = sum(d["status"] == "send" for d in written)
        disabled = sum(d["reason"] == "rule_disabled" for d in written)
        metrics = {
            name: rest.operator_metric(job_id, f"rule.browsing.{name}")
            for name in ("candidates", "fired", "reason.rule_disabled.suppressed")
        }
        if metrics == {
            "candidates": sent + disabled,
            "fired": sent,
            "reason.rule_disabled.suppressed": disabled,
        }:
            break
        assert time.monotonic() < deadline, (metrics, sent, disabled)
        time.sleep(1)
    assert sent >= 1 and disabled >= 2
    # The latency histogram: wall-clock emit time minus trigger time. These events are dated in
    # 2027, so their latencies are negative; the largest is the earliest trigger's.
    earliest = min(d["trigger_time_ms"] for d in written)
    largest = rest.operator_metric(job_id, "decision_latency_ms_max", agg="max")
    assert largest is not None
    assert started_ms - earliest <= largest <= time.time() * 1000 - earliest
