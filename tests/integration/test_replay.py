"""``journey-triggers replay``: a time range of a topic's history through the job, bounded.

One history (generated journeys with a policy: caps, quiet hours, experiments) is on a topic
with two partitions, each record's Kafka timestamp its event time. A live job (unbounded)
decides it; ``replay --from earliest --to latest`` must write the same decisions, record for
record, and both must equal the reference engine's. A replay of one day's records
(``--from``/``--to`` as ISO times) must read exactly the records of that day, and decide as
the reference does over them alone.

The history ends with one page view per partition 30 days later (a customer of its own): it
moves the live job's event time past every window, so the live job decides everything
before it, as a bounded replay does at its end. That customer's decisions are left out of the
comparison, since the live job is still waiting on them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.policy import PolicyBook, load_policy
from journey_triggers.replay import parse_bound, plan_replay
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules, policy_entries
from journey_triggers.semantics.policy import apply_policy
from tests.integration.conftest import (
    canonical_decisions,
    create_job_topics,
    journey_triggers_cli,
    kafka_partition,
    kafka_sink,
    live_job,
)

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
RULES_FILE = DATA / "policy_rules.yaml"
POLICY_FILE = DATA / "policy.yaml"
RULES = tuple(item.rule for item in load_rules([RULES_FILE]))
DAY = 86_400_000
FLUSH = "zz-flush"


def reference(lines: list[str]) -> list[dict[str, Any]]:
    """Return the reference's decisions (not erasure confirmations) over ``lines``."""
    events = sorted(
        (e for text in lines if isinstance(e := parse_event(text), Event)), key=lambda e: e.ts_ms
    )
    decisions = evaluate_rules(RULES, events)
    book = PolicyBook((load_policy(POLICY_FILE),))
    outputs = apply_policy(book, policy_entries(RULES, decisions, events))
    return [d for d in outputs if d.get("type") == "decision"]


def without_flush(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in decisions if d["customer_id"] != FLUSH]


def history() -> tuple[list[tuple[str | None, str]], list[int], GeneratorConfig]:
    """Return the records (key, value), their Kafka timestamps and the generator's config."""
    config = GeneratorConfig(customers=90, seed=28, horizon_ms=3 * DAY)
    records = list(generate(config))
    times: list[int] = []
    for _, text in records:
        event = parse_event(text)
        times.append(event.ts_ms if isinstance(event, Event) else (times[-1] if times else 1))
    end = max(times) + 30 * DAY
    for partition in range(2):
        flush = {
            "event_id": f"flush-{partition}",
            "event_type": "page_view",
            "customer_id": FLUSH,
            "ts": end,
        }
        records.append((f"flush-{partition}", json.dumps(flush)))
        times.append(end)
    return records, times, config


def test_a_replay_writes_exactly_the_decisions_the_live_job_wrote(
    local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    records, times, _ = history()
    flush_partition = {key: number for number, key in enumerate(("flush-0", "flush-1"))}
    create_job_topics(bootstrap, "live", events=2)
    create_job_topics(bootstrap, "rp")
    produce(
        bootstrap,
        "live.events",
        records,
        # The flush records go one to each partition; the rest by key, as Kafka would.
        partition_of=lambda i, key: flush_partition.get(key or "", kafka_partition(key, i, 2)),
        timestamp_of=lambda i: times[i],
    )
    expected = reference([text for _, text in records])
    assert len(without_flush(expected)) > 100
    assert {d["status"] for d in expected} >= {"send", "suppressed", "holdout", "deferred"}

    # The live job: unbounded, from the earliest offset.
    config = JobConfig(
        rules=RULES,
        policy=load_policy(POLICY_FILE),
        parallelism=2,
        checkpoint_interval_ms=1_000,
        # Idleness is processing time: a live job can differ from a replay there (README).
        idle_timeout_ms=0,
    )
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="live.events")
    wanted = len(without_flush(expected))
    with live_job(source, kafka_sink(bootstrap, "live"), config):
        live = consume_json(bootstrap, "live.decisions", expected=wanted, max_wait_s=300)
    live = consume_json(bootstrap, "live.decisions", idle_timeout_s=5)  # nothing after those
    assert canonical_decisions(live) == canonical_decisions(without_flush(expected))

    # The replay of the whole topic, through the command.
    common = [
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        "live.events",
        "--rules",
        str(RULES_FILE),
        "--policy",
        str(POLICY_FILE),
        "--parallelism",
        "2",
        "--checkpoint-interval",
        "1s",
    ]
    whole = journey_triggers_cli(
        "replay",
        *common,
        "--decisions-topic",
        "rp.decisions",
        "--dead-letter-topic",
        "rp.dlq",
        "--late-topic",
        "rp.late",
        "--erasure-topic",
        "rp.erasures",
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    total = len(records)
    assert f"about {total:,} events" in whole.stderr
    assert re.search(rf"{total:,} / {total:,} events 100%", whole.stderr), whole.stderr[-2000:]
    replayed = consume_json(bootstrap, "rp.decisions", expected=len(expected), max_wait_s=120)
    replayed = consume_json(bootstrap, "rp.decisions", idle_timeout_s=5)
    # Equal to the live job's, record for record (ids, statuses, times, channels, reasons).
    assert canonical_decisions(without_flush(replayed)) == canonical_decisions(live)
    assert canonical_decisions(replayed) == canonical_decisions(expected)


def test_a_run_from_an_epoch_ms_start_decides_exactly_the_records_from_that_time(
    local_broker, no_leftover_processes
):
    """``run --start <epoch ms>``: Kafka looks up each partition's first offset at that time."""
    bootstrap = local_broker.bootstrap_servers
    records, times, _ = history()
    create_job_topics(bootstrap, "st", events=2)
    produce(
        bootstrap,
        "st.events",
        records,
        partition_of=lambda i, key: kafka_partition(key, i, 2),
        timestamp_of=lambda i: times[i],
    )
    start = sorted(times)[len(times) // 2]
    # Each partition from its first record at or after ``start``, as Kafka's time index finds it.
    partitions: dict[int, list[tuple[str, int]]] = {0: [], 1: []}
    for i, ((key, text), at) in enumerate(zip(records, times, strict=True)):
        partitions[kafka_partition(key, i, 2)].append((text, at))
    kept = [
        text
        for log in partitions.values()
        for text, _ in log[next((n for n, (_, at) in enumerate(log) if at >= start), len(log)) :]
    ]
    assert 0 < len(kept) < len(records)
    expected = reference(kept)
    assert len(expected) > 20
    run = journey_triggers_cli(
        "run",
        "--bootstrap-servers", bootstrap,
        "--input-topic", "st.events",
        "--start", str(start),
        "--bounded",
        "--rules", str(RULES_FILE),
        "--policy", str(POLICY_FILE),
        "--parallelism", "2",
        "--checkpoint-interval", "1s",
        "--decisions-topic", "st.decisions",
        "--dead-letter-topic", "st.dlq",
        "--late-topic", "st.late",
        "--erasure-topic", "st.erasures",
        "--transactional-id-prefix", "jt-st",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    decided = consume_json(bootstrap, "st.decisions", expected=len(expected), max_wait_s=120)
    decided = consume_json(bootstrap, "st.decisions", idle_timeout_s=3)  # nothing after those
    assert canonical_decisions(decided) == canonical_decisions(expected)


def test_the_broker_lookup_agrees_with_a_scan_and_a_wrong_answer_is_caught(
    local_broker, monkeypatch
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(bootstrap, {"t": 2})
    t0 = 1_800_000_000_000
    records = [(f"k{i}", json.dumps({"i": i})) for i in range(20)]
    produce(
        bootstrap,
        "t",
        records,
        partition_of=lambda i, key: i % 2,
        timestamp_of=lambda i: t0 + i * 1_000,
    )
    # From before the first record: offset 0 on either lookup.
    early = plan_replay(bootstrap, "t", t0 - 5, None)
    assert early.start_offsets == ((0, 0), (1, 0)) and early.estimated_events == 20
    # Records 5..11 are in range: on partition 0 offsets 3..5 (i = 6, 8, 10), on 1 offsets
    # 2..5 (i = 5, 7, 9, 11). Kafka's time index and a scan of the records agree.
    for lookup in ("broker", "scan"):
        planned = plan_replay(bootstrap, "t", t0 + 4_500, t0 + 12_000, lookup=lookup)
        assert [(r.partition, r.start, r.stop) for r in planned.ranges] == [(0, 3, 6), (1, 2, 6)]
        assert planned.estimated_events == 7
        assert plan_replay(bootstrap, "t", t0 + 50_000, None, lookup=lookup).estimated_events == 0
    assert parse_bound("2027-01-01", "--from", "earliest") == 1_798_761_600_000
    assert parse_bound("2027-01-01T01:00:00+01:00", "--from", "earliest") == 1_798_761_600_000

    # A Kafka-compatible broker without a time index answers offset 0: the check catches it
    # and names the partition, instead of replaying the wrong range.
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndTimestamp

    def no_time_index(self: Any, timestamps: dict[Any, int]) -> dict[Any, Any]:
        return {tp: OffsetAndTimestamp(0, t0, None) for tp in timestamps}

    monkeypatch.setattr(KafkaConsumer, "offsets_for_times", no_time_index)
    with pytest.raises(Exception, match=r"answer for t-0 at .* is wrong: it gave offset 0"):
        plan_replay(bootstrap, "t", t0 + 4_500, None)
