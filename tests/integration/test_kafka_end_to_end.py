"""Broker, produced events, the job on a minicluster, decisions read back with read_committed."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from jobs.specs import KafkaSinkSpec, KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, Rejection, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, end_offsets, produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.evaluator import evaluate_rules
from tests.integration.conftest import (
    LIVE_T0,
    assert_same_decisions,
    kafka_sink,
    live_job,
    page_view,
    run_pipeline,
)

pytestmark = pytest.mark.integration

HOUR, DAY = 3_600_000, 86_400_000


def test_job_writes_exactly_the_reference_decisions_to_kafka(local_broker, no_leftover_processes):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(
        bootstrap, {"events": 4, "decisions": 2, "events.dlq": 1, "events.late": 1}
    )
    records = list(generate(GeneratorConfig(customers=150, seed=11, invalid_share=0.02)))
    # Record timestamps 5 s after the event's ts; some from a clock 2 hours behind (the event
    # is ahead of its record) and some 3 days after the event, beyond the bounds below.
    times = []
    for index, (_, line) in enumerate(records):
        event = parse_event(line)
        ts_ms = event.ts_ms if isinstance(event, Event) else 1_800_000_000_000
        skew = -2 * HOUR if index % 37 == 5 else 3 * DAY if index % 41 == 7 else 5_000
        times.append(ts_ms + skew)
    produce(bootstrap, "events", records, timestamp_of=times.__getitem__)

    config = JobConfig(
        parallelism=2, checkpoint_interval_ms=1_000, max_ahead_ms=HOUR, max_behind_ms=DAY
    )
    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, bounded=True),
        KafkaSinkSpec(bootstrap_servers=bootstrap, transactional_id_prefix="jt-e2e"),
        config,
    )

    # Computed independently: the plain-Python semantics over the same records. The
    # generator's disorder (2s) is inside the bound (10s), so no record is late.
    parsed = [
        parse_event(line, record_time_ms=at, max_ahead_ms=HOUR, max_behind_ms=DAY)
        for (_, line), at in zip(records, times, strict=True)
    ]
    valid = [p for p in parsed if isinstance(p, Event)]
    expected = sorted(
        (d.to_record() for d in evaluate_rules([cart_abandonment()], valid)),
        key=lambda d: d["decision_id"],
    )
    rejected = [p for p in parsed if isinstance(p, Rejection)]

    decisions = consume_json(bootstrap, "decisions", expected=len(expected), max_wait_s=60)
    dead = consume_json(bootstrap, "events.dlq", expected=len(rejected), max_wait_s=30)
    late = consume_json(bootstrap, "events.late", idle_timeout_s=3)

    assert_same_decisions(decisions, expected)
    assert sorted(d["reason"] for d in dead) == sorted(r.reason for r in rejected)
    bounded = {reason for reason in (d["reason"] for d in dead) if reason.startswith("ts_")}
    assert bounded == {"ts_ahead_of_record_time", "ts_behind_record_time"}
    assert all(d["source"] == "events" and d["source_offset"] >= 0 for d in dead)
    assert late == []
    assert len(valid) + len(dead) + len(late) == len(records)
    # Nothing extra arrives after the expected count.
    assert len(consume_json(bootstrap, "decisions", idle_timeout_s=3)) == len(expected)


def test_the_whole_pack_writes_through_one_exactly_once_kafka_sink(
    local_broker, no_leftover_processes
):
    # Every rule's decisions go through ONE transactional sink: one Kafka sink per rule would
    # share the transactional-id prefix, and Flink refuses that at the first checkpoint.
    from pathlib import Path

    from journey_triggers.rules.loader import load_rules

    pack = Path(__file__).resolve().parents[2] / "rules" / "standard.yaml"
    rules = tuple(item.rule for item in load_rules([pack]) if item.rule.enabled)
    bootstrap = local_broker.bootstrap_servers
    topics = {"pack.events": 2, "pack.decisions": 2, "pack.dlq": 1, "pack.late": 1}
    broker.create_topics(bootstrap, topics)
    records = list(generate(GeneratorConfig(customers=60, seed=12)))
    produce(bootstrap, "pack.events", records)

    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="pack.events", bounded=True),
        kafka_sink(bootstrap, "pack"),
        JobConfig(parallelism=2, checkpoint_interval_ms=1_000, rules=rules),
    )

    valid = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    expected = [d.to_record() for d in evaluate_rules(rules, valid)]
    assert len({d["rule_id"] for d in expected}) >= 10
    decisions = consume_json(bootstrap, "pack.decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(decisions, expected)


def test_at_least_once_delivery_makes_decisions_readable_before_any_checkpoint(
    local_broker, no_leftover_processes
):
    """Exactly-once output waits for the checkpoint that covers it; at-least-once does not.

    The checkpoint interval is 10 minutes, so no checkpoint completes during the test: with
    exactly-once delivery no decision could be read here before the timeout.
    """
    bootstrap = local_broker.bootstrap_servers
    topics = ("events", "decisions", "dlq", "late", "erasures")
    broker.create_topics(bootstrap, {f"alo.{name}": 1 for name in topics})
    rule = Rule.model_validate(
        {
            "id": "carted",
            "version": 1,
            "description": "Every add_to_cart.",
            "trigger": {"kind": "event", "on": {"event": "add_to_cart"}},
            "output": {"action": "thanks", "channels": ["email"]},
        }
    )
    records = [
        (
            f"c{index}",
            json.dumps(
                {
                    "event_id": f"cart-{index}",
                    "event_type": "add_to_cart",
                    "customer_id": f"c{index}",
                    "ts": LIVE_T0 + index * 60_000,
                    "properties": {"product_id": "p1", "price": 1.0},
                }
            ),
        )
        for index in range(5)
    ]
    # A later event moves event time past the carts (the bound is 1 s).
    records.append(page_view("c9", 30))
    events = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    expected = sorted(d.decision_id for d in evaluate_rules([rule], events))
    assert len(expected) == 5
    config = JobConfig(
        parallelism=1,
        rules=(rule,),
        out_of_orderness_ms=1_000,
        checkpoint_interval_ms=600_000,
        idle_timeout_ms=1_000,
    )
    sink = replace(kafka_sink(bootstrap, "alo"), delivery="at-least-once")
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="alo.events")
    with live_job(source, sink, config):
        started = time.monotonic()
        produce(bootstrap, "alo.events", records)
        decisions = consume_json(bootstrap, "alo.decisions", expected=5, max_wait_s=120)
        waited = time.monotonic() - started
    assert sorted(d["decision_id"] for d in decisions) == expected
    assert waited < 600, waited
    # No transaction: what a read_uncommitted consumer sees is all there is.
    assert end_offsets(bootstrap, "alo.decisions", committed=True) == end_offsets(
        bootstrap, "alo.decisions", committed=False
    )
