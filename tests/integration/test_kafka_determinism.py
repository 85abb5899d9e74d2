"""Live path determinism: the same Kafka topic, with late data, at parallelism 1 and 2."""

from __future__ import annotations

import pytest

from jobs.specs import KafkaSinkSpec, KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_pipeline

pytestmark = pytest.mark.integration

PARTITIONS = 3


def test_kafka_decisions_and_late_events_are_identical_at_parallelism_1_and_2(
    local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    topics = {"events": PARTITIONS}
    for p in (1, 2):
        topics |= {f"decisions.p{p}": 2, f"dlq.p{p}": 1, f"late.p{p}": 1}
    broker.create_topics(bootstrap, topics)
    # 40s of disorder against a 10s bound: some events are late in their partition.
    records = list(generate(GeneratorConfig(customers=150, seed=23, disorder_ms=40_000)))
    produce(bootstrap, "events", records, partition_of=lambda index, _key: index % PARTITIONS)

    config_bound = 10_000
    events = [
        e
        for index, (_, line) in enumerate(records)
        if isinstance(e := parse_event(line, source_partition=index % PARTITIONS), Event)
    ]
    split = split_late(events, config_bound)
    expected = [d.to_record() for d in evaluate_rules([cart_abandonment()], split.on_time)]
    assert split.late, "the input must hold late events for this test to mean anything"

    for p in (1, 2):
        run_pipeline(
            KafkaSourceSpec(bootstrap_servers=bootstrap, group_id=f"det-p{p}", bounded=True),
            KafkaSinkSpec(
                bootstrap_servers=bootstrap,
                decisions_topic=f"decisions.p{p}",
                dead_letter_topic=f"dlq.p{p}",
                late_topic=f"late.p{p}",
                transactional_id_prefix=f"det-p{p}",
            ),
            JobConfig(
                parallelism=p, out_of_orderness_ms=config_bound, checkpoint_interval_ms=1_000
            ),
        )
        decisions = consume_json(
            bootstrap, f"decisions.p{p}", expected=len(expected), max_wait_s=60
        )
        assert_same_decisions(decisions, expected)
        late = consume_json(bootstrap, f"late.p{p}", expected=len(split.late), max_wait_s=30)
        assert sorted(r["event_id"] for r in late) == sorted(e.event_id for e in split.late)
        late_partitions = {e.event_id: e.source_partition for e in split.late}
        assert {r["event_id"]: r["source_partition"] for r in late} == late_partitions
