"""``--unknown-event-types accept``: records of a type the job does not know are processed.

By default such a record is a dead letter (``unknown_event_type``; the ingest test checks that).
Accepted, it is activity like any event: it keeps a session open, moves the profile's event
count and recency, and is accounted for. No rule can name its type. The job must decide exactly
as the reference does when it accepts them too, and differently from when it refuses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import EVENT_TYPES, REJECT_UNKNOWN_EVENT_TYPE, Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = tuple(
    item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"]) if item.rule.enabled
)
BOUND_MS = 10_000
CUSTOM_TYPES = ("wishlist_add", "store_visit")


def traffic() -> list[str]:
    """Generated traffic in which every third page view is of a type the job does not know."""
    config = GeneratorConfig(customers=150, seed=23, disorder_ms=15_000, horizon_ms=3 * 86_400_000)
    lines, page_views = [], 0
    for _, line in generate(config):
        record = json.loads(line) if line.startswith("{") else None
        if isinstance(record, dict) and record.get("event_type") == "page_view":
            page_views += 1
            if page_views % 3 == 0:
                record["event_type"] = CUSTOM_TYPES[page_views % 2]
                line = json.dumps(record)
        lines.append(line)
    return lines


def _reference(
    lines: list[str], accept: bool
) -> tuple[list[Event], list[Event], list[dict[str, Any]]]:
    parsed = [parse_event(line, accept_unknown_types=accept) for line in lines]
    split = split_late([p for p in parsed if isinstance(p, Event)], BOUND_MS)
    decisions = [d.to_record() for d in evaluate_rules(RULES, split.on_time)]
    return split.on_time, split.late, decisions


def test_accepted_unknown_types_are_activity_exactly_as_in_the_reference(tmp_path):
    lines = traffic()
    on_time, late, expected = _reference(lines, accept=True)
    unknown = [e for e in on_time if e.event_type not in EVENT_TYPES]
    assert len(unknown) >= 100
    assert {e.event_type for e in unknown} == set(CUSTOM_TYPES)
    _, _, refused = _reference(lines, accept=False)
    # Accepting them changes what fires (sessions last longer, other events are the latest).
    assert {d["decision_id"] for d in expected} != {d["decision_id"] for d in refused}

    config = JobConfig(
        parallelism=2,
        out_of_orderness_ms=BOUND_MS,
        rules=RULES,
        unknown_event_types="accept",
        profile_snapshots=True,
    )
    out = run_on_file(lines, tmp_path, config)
    assert_same_decisions(out["decisions"], expected)
    assert not [d for d in out["dead_letters"] if d["reason"] == REJECT_UNKNOWN_EVENT_TYPE]
    # Every accepted event is processed: it has a profile snapshot. Nothing is lost.
    profiled = {s["event_id"] for s in out["profiles"]}
    assert {e.event_id for e in unknown} <= profiled
    assert profiled == {e.event_id for e in on_time}
    assert sorted(r["event_id"] for r in out["late_events"]) == sorted(e.event_id for e in late)
    assert len(lines) == len(out["profiles"]) + len(out["dead_letters"]) + len(out["late_events"])
