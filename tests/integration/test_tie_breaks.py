"""Ties in event time are broken the same way in Flink and in the reference evaluator.

Generated data has fixed-width ids and rarely ties; these records tie on purpose, with ids
whose string order differs from their length order ("b" > "aa").
"""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.evaluator import evaluate_rules
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

T0 = 1_798_761_600_000
MINUTE = 60_000

RULES = [
    {
        "id": "views_twice",
        "version": 1,
        "description": "two views of a product within an hour",
        "trigger": {
            "kind": "count",
            "on": {"event": "product_view"},
            "at_least": 2,
            "within": "1h",
            "group_by": ["properties.product_id"],
        },
        "output": {"action": "a", "channels": ["email"], "payload": {"p": "properties.product_id"}},
    },
    {
        "id": "x_then_y",
        "version": 1,
        "description": "x then y within 10 minutes, y at least 1 minute after x",
        "trigger": {
            "kind": "sequence",
            "within": "10m",
            "steps": [
                {
                    "on": {
                        "event": "page_view",
                        "where": {"field": "properties.page", "op": "=", "value": "x"},
                    }
                },
                {
                    "on": {
                        "event": "page_view",
                        "where": {"field": "properties.page", "op": "=", "value": "y"},
                    }
                },
            ],
        },
        "output": {"action": "c", "channels": ["email"]},
    },
    {
        "id": "exit_after_cart",
        "version": 1,
        "description": "session with a cart ended",
        "trigger": {"kind": "inactivity", "gap": "10m", "while": {"event": "add_to_cart"}},
        "output": {"action": "b", "channels": ["push"]},
    },
]


def record(event_id, event_type, minute, customer="c1", **properties):
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "customer_id": customer,
            "ts": T0 + int(minute * MINUTE),
            "properties": properties,
        }
    )


def test_tie_breaks_agree_between_flink_and_reference(tmp_path):
    lines = [
        # count: two views in the same millisecond cross the threshold together
        record("aa", "product_view", 0, product_id="X"),
        record("b", "product_view", 0, product_id="X"),
        # count: the threshold is reached at the window's far edge (1h later, inclusive)
        record("v1", "product_view", 0, customer="c2", product_id="Y"),
        record("v2", "product_view", 60, customer="c2", product_id="Y"),
        # inactivity: the session's last events tie; "b2" > "aa2" although shorter
        record("aa2", "add_to_cart", 100, customer="c3"),
        record("b2", "page_view", 100, customer="c3"),
        # inactivity: events exactly the gap apart stay in one session
        record("s1", "add_to_cart", 200, customer="c4"),
        record("s2", "page_view", 210, customer="c4"),
        # sequence: same-timestamp x ("a") and y ("b") are ordered by event_id: x then y
        record("sa", "page_view", 300, customer="c5", page="x"),
        record("sb", "page_view", 300, customer="c5", page="y"),
        # sequence: reversed ids at the same timestamp: y ("ta") before x ("tb"): no match
        record("tb", "page_view", 400, customer="c6", page="x"),
        record("ta", "page_view", 400, customer="c6", page="y"),
        # sequence: exactly the window is too late; a millisecond less is in time
        record("u1", "page_view", 500, customer="c7", page="x"),
        record("u2", "page_view", 510, customer="c7", page="y"),
        record("w1", "page_view", 600, customer="c8", page="x"),
        record("w2", "page_view", 610 - 1 / MINUTE, customer="c8", page="y"),
        # sequence: two starts, one end: the earliest start wins, no overlap
        record("m1", "page_view", 700, customer="c10", page="x"),
        record("m2", "page_view", 701, customer="c10", page="x"),
        record("m3", "page_view", 702, customer="c10", page="y"),
        record("m4", "page_view", 703, customer="c10", page="y"),
        # a late clock so every window closes
        record("end", "login", 1000, customer="c9"),
    ]
    rules = [TypeAdapter(Rule).validate_python(r) for r in RULES]
    out = run_on_file(lines, tmp_path, JobConfig(parallelism=2, rules=tuple(rules)))

    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    expected = [d.to_record() for d in evaluate_rules(rules, events)]
    anchors = sorted(d["explanation"]["anchor_event_id"] for d in expected)
    assert anchors == ["b", "b2", "m3", "s2", "sb", "v2", "w2"]
    assert_same_decisions(out["decisions"], expected)
