"""The reference's deduplication (``semantics.dedup``): copies count once, in any order."""

from __future__ import annotations

import json
import random
from pathlib import Path

from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.dedup import deduplicate
from journey_triggers.semantics.evaluator import evaluate_rules

HOUR = 3_600_000
ROOT = Path(__file__).resolve().parents[2]


def event(event_id: str, ts_ms: int, customer: str = "c1", **properties: object) -> Event:
    record = {
        "event_id": event_id,
        "event_type": "product_view",
        "customer_id": customer,
        "ts": ts_ms,
        "properties": properties,
    }
    parsed = parse_event(json.dumps(record))
    assert isinstance(parsed, Event)
    return parsed


def ids(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.event_id, e.ts_ms) for e in events]


def test_the_same_record_twice_is_kept_once_and_counted_as_a_copy():
    first, copy = event("e1", 1_000), event("e1", 1_000)
    split = deduplicate([first, copy, event("e2", 2_000)])
    assert ids(split.unique) == [("e1", 1_000), ("e2", 2_000)]
    assert ids(split.duplicates) == [("e1", 1_000)]
    assert split.conflicts == []


def test_a_different_record_under_a_kept_id_is_a_conflict_and_the_earliest_is_kept():
    later = event("e1", 5_000, page="/b")
    earlier = event("e1", 1_000, page="/a")
    split = deduplicate([later, earlier])  # arrival order does not matter
    assert ids(split.unique) == [("e1", 1_000)]
    assert ids(split.conflicts) == [("e1", 5_000)]
    # At the same time, the record text decides which one is kept.
    a, b = event("e1", 1_000, page="/a"), event("e1", 1_000, page="/b")
    assert deduplicate([b, a]).unique[0].raw == a.raw


def test_ids_are_per_customer_and_forgotten_after_the_horizon():
    split = deduplicate([event("e1", 0), event("e1", 0, customer="c2")], horizon_ms=HOUR)
    assert len(split.unique) == 2
    # A copy has the kept record's text, so its time too: only a conflict can be later.
    at_horizon = deduplicate([event("e1", 0), event("e1", HOUR)], horizon_ms=HOUR)
    assert ids(at_horizon.conflicts) == [("e1", HOUR)]
    past = deduplicate([event("e1", 0), event("e1", HOUR + 1)], horizon_ms=HOUR)
    assert len(past.unique) == 2 and past.conflicts == []
    assert deduplicate([event("e1", 0), event("e1", 0)], horizon_ms=0).unique == [
        event("e1", 0),
        event("e1", 0),
    ]


def test_copies_change_no_decision_of_the_standard_pack():
    rules = [item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"])]
    lines = [line for _, line in generate(GeneratorConfig(customers=60, seed=5))]
    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    rng = random.Random(7)
    with_copies = list(events)
    for original in rng.sample(events, len(events) // 5):
        with_copies.insert(rng.randrange(len(with_copies) + 1), original)
    clean = evaluate_rules(rules, events)
    assert clean
    assert evaluate_rules(rules, with_copies) == clean
    assert evaluate_rules(rules, with_copies, dedup_horizon_ms=0) != clean  # copies would count
