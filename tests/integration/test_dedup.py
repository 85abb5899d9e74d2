"""Copies of events change nothing: the same record twice, across partitions and in a re-sent
overlap, decides as one clean pass; a different record under a kept id is a dead letter.

``semantics.dedup`` states the rule; ``journeytriggers.Deduplication`` does it in the job.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.specs import KafkaSinkSpec, KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.loader import load_rules
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.dedup import REJECT_CONFLICTING_EVENT_ID, deduplicate
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import (
    assert_same_decisions,
    read_json_lines,
    run_on_file,
    run_pipeline,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOUND = 10_000


def _pack() -> list[Rule]:
    return [item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"])]


def _on_time(lines: list[str]) -> list[Event]:
    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    return split_late(events, BOUND).on_time


def _conflict(line: str) -> str:
    """Return another record under ``line``'s event id, a second later."""
    record, event = json.loads(line), parse_event(line)
    assert isinstance(event, Event)
    record["ts"] = event.ts_ms + 1_000
    record.setdefault("properties", {})["note"] = "a different event under a used id"
    return json.dumps(record)


def test_copies_in_a_file_change_no_decision_and_conflicts_are_dead_letters(tmp_path):
    rules = _pack()
    clean = [line for _, line in generate(GeneratorConfig(customers=80, seed=31))]
    valid = [line for line in clean if isinstance(parse_event(line), Event)]
    lines: list[str] = []
    conflicts: list[str] = []
    for index, line in enumerate(clean):
        lines.append(line)
        if index % 4 == 0:
            lines.append(line)  # delivered twice, back to back
        if index % 9 == 0 and line in valid:
            conflicts.append(_conflict(line))
            lines.append(conflicts[-1])
    on_time = _on_time(lines)
    expected = [d.to_record() for d in evaluate_rules(rules, on_time)]
    # The copies change nothing; the conflicts come after the records they conflict with.
    assert expected == [d.to_record() for d in evaluate_rules(rules, _on_time(clean))]
    dropped = deduplicate(on_time)
    assert dropped.duplicates and dropped.conflicts

    config = JobConfig(parallelism=2, rules=tuple(rules), write_duplicates=True)
    out = run_on_file(lines, tmp_path, config, name="dedup")
    assert_same_decisions(out["decisions"], expected)
    copies = read_json_lines(tmp_path / "dedup-out" / "duplicates")
    assert sorted(c["raw"] for c in copies) == sorted(e.raw for e in dropped.duplicates)
    assert {c["event_id"] for c in copies} == {e.event_id for e in dropped.duplicates}
    conflicting = [d for d in out["dead_letters"] if d["reason"] == REJECT_CONFLICTING_EVENT_ID]
    assert sorted(d["raw"] for d in conflicting) == sorted(e.raw for e in dropped.conflicts)
    on_time_conflicts = {e.raw for e in dropped.conflicts}
    assert on_time_conflicts <= set(conflicts)


def test_copies_across_partitions_and_a_resent_overlap_decide_as_one_clean_pass(
    local_broker, no_leftover_processes
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(bootstrap, {"dd.events": 2, "dd.decisions": 1, "dd.dlq": 1, "dd.late": 1})
    rules = _pack()
    clean = list(generate(GeneratorConfig(customers=80, seed=37)))
    records: list[tuple[str | None, str]] = []
    partitions: list[int] = []
    for index, (key, line) in enumerate(clean):
        records.append((key, line))
        partitions.append(index % 2)
        if index % 5 == 0:  # a copy on the other partition, right after
            records.append((key, line))
            partitions.append(1 - index % 2)
        if index % 50 == 49:  # the producer re-sends its last few records: an overlap
            for back in range(4, -1, -2):
                records.append(clean[index - back])
                partitions.append((index - back) % 2)
    produce(bootstrap, "dd.events", records, partition_of=lambda index, _key: partitions[index])

    events = [
        e
        for (_, line), partition in zip(records, partitions, strict=True)
        if isinstance(e := parse_event(line, source_partition=partition), Event)
    ]
    split = split_late(events, BOUND)
    expected = [d.to_record() for d in evaluate_rules(rules, split.on_time)]
    clean_events = [
        e
        for index, (_, line) in enumerate(clean)
        if isinstance(e := parse_event(line, source_partition=index % 2), Event)
    ]
    assert expected == [
        d.to_record() for d in evaluate_rules(rules, split_late(clean_events, BOUND).on_time)
    ]
    assert deduplicate(split.on_time).duplicates

    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="dd.events", bounded=True),
        KafkaSinkSpec(
            bootstrap_servers=bootstrap,
            decisions_topic="dd.decisions",
            dead_letter_topic="dd.dlq",
            late_topic="dd.late",
            transactional_id_prefix="dd",
        ),
        JobConfig(parallelism=2, rules=tuple(rules), checkpoint_interval_ms=1_000),
    )
    decisions = consume_json(bootstrap, "dd.decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(decisions, expected)
