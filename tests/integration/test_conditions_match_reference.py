"""The engine's rule conditions decide exactly as the Python semantics, on a corpus of odd values.

Field conditions over odd values (numbers written as text, booleans, nested values, unicode,
empty lists), and context conditions (local time across zones, days and DST, store distance at
the exact bound and across the antimeridian, session dwell), each as an event rule run by the
JVM engine's driver (``journey_triggers.jvm_engine``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from journey_triggers.events import Event
from journey_triggers.jvm_engine import run_engine
from journey_triggers.rules.ir import rule_set_json
from journey_triggers.rules.model import Condition, EventPattern, EventTrigger, Output, Rule
from journey_triggers.semantics import context
from journey_triggers.semantics.conditions import evaluate

pytestmark = pytest.mark.integration

VALUES = [
    "100",
    100,
    100.0,
    99.5,
    "99.50",
    "1e2",
    1e20,
    "abc",
    "",
    True,
    False,
    "true",
    None,
    {"nested": 1},
    [1],
    "mobile",
    "MOBILE",
    "abc\n",
    "12.5.1",
    -0.0,
    -5,
    "/services/x",
    "ünïcode",
    ["p1", "p2"],
    ["100", 5, 2.5, True, None, {"p1": 1}, ["p1"]],
    [100],
    [],
]

CONDITIONS = [
    {"field": "properties.v", "op": "=", "value": 100},
    {"field": "properties.v", "op": "=", "value": "100"},
    {"field": "properties.v", "op": "=", "value": True},
    {"field": "properties.v", "op": "!=", "value": "mobile"},
    {"field": "properties.v", "op": "!=", "value": 100},
    {"field": "properties.v", "op": ">", "value": 99.5},
    {"field": "properties.v", "op": ">=", "value": 99.5},
    {"field": "properties.v", "op": "<", "value": 0},
    {"field": "properties.v", "op": "<=", "value": 1e20},
    {"field": "properties.v", "op": "in", "value": ["mobile", 100, "abc"]},
    {"field": "properties.v", "op": "not in", "value": ["mobile", 100]},
    {"field": "properties.v", "op": "exists"},
    {"field": "properties.v", "op": "matches", "value": "abc"},
    {"field": "properties.v", "op": "matches", "value": "/services/.*"},
    {"field": "properties.v", "op": "matches", "value": "(?i)mobile"},
    # w is "x", "y" or missing: != is false for "x" and for missing.
    {"field": "properties.w", "op": "!=", "value": "x"},
    {"field": "device_type", "op": "=", "value": "mobile"},
    {"field": "properties.v", "op": "contains", "value": "p1"},
    {"field": "properties.v", "op": "contains", "value": "100"},
    {"field": "properties.v", "op": "contains", "value": "5"},
    {"field": "properties.v", "op": "contains", "value": "2.5"},
    {"field": "properties.v", "op": "contains", "value": "true"},
    {"field": "properties.v", "op": "contains", "value": "p2"},
    {"not": {"field": "properties.v", "op": "exists"}},
    {
        "any": [
            {"field": "properties.v", "op": ">", "value": 99},
            {"field": "device_type", "op": "=", "value": "mobile"},
        ]
    },
    {
        "all": [
            {"field": "properties.v", "op": "exists"},
            {"not": {"field": "properties.v", "op": "=", "value": 100}},
        ]
    },
]


def decide_both_ways(
    tmp_path: Path, records: list[dict[str, Any]], conditions: list[Any]
) -> tuple[dict[str, list[bool]], dict[str, list[bool]]]:
    """Return each record's outcomes of ``conditions`` from the JVM engine and from Python.

    Each condition is an event rule's condition; a record's outcome is whether that rule fired
    for it. A record's ``_ts`` and ``_session_start`` give its event time and session start.
    """
    rules = [
        Rule(
            id=f"c{i}",
            version=1,
            description=f"condition {i}",
            trigger=EventTrigger(kind="event", on=EventPattern(event="page_view")),
            conditions=condition,
            output=Output(action="a", channels=["email"]),
        )
        for i, condition in enumerate(conditions)
    ]
    rules_path = tmp_path / "rules-ir.json"
    rules_path.write_text(rule_set_json(rules))
    events_path = tmp_path / "events.jsonl"
    lines = []
    for record in records:
        line = {
            "customer_key": "c",
            "customer_id": "c",
            "ts_ms": record.get("_ts", 0),
            "event_id": record["event_id"],
            "event_type": "page_view",
            "raw": json.dumps(record, ensure_ascii=False),
            "session_start_ms": record.get("_session_start"),
            "profile": None,
            "score": None,
        }
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
    events_path.write_text("".join(lines), encoding="utf-8")
    fired = {
        (c["rule_id"], c["explanation"]["anchor_event_id"])
        for c in run_engine(rules_path, events_path, out_of_orderness_ms=2**62)
    }
    got = {
        record["event_id"]: [(f"c{i}", record["event_id"]) in fired for i in range(len(rules))]
        for record in records
    }
    expected = {}
    for record in records:
        event = Event(
            event_id=record["event_id"],
            event_type="page_view",
            customer_key="c",
            ts_ms=record.get("_ts", 0),
            record=record,
            session_start_ms=record.get("_session_start"),
        )
        expected[record["event_id"]] = [evaluate(c, event) for c in conditions]
    return got, expected


def assert_agree(got: dict[str, list[bool]], expected: dict[str, list[bool]], names: list[Any]):
    mismatches = [
        (event_id, names[i], got[event_id][i], want)
        for event_id, wants in expected.items()
        for i, want in enumerate(wants)
        if got[event_id][i] != want
    ]
    assert not mismatches, mismatches[:10]
    # The corpus exercises both outcomes of every condition.
    for i in range(len(names)):
        outcomes = {wants[i] for wants in expected.values()}
        assert outcomes == {True, False}, names[i]


def test_engine_conditions_equal_python_semantics(tmp_path: Path):
    records = []
    for index, value in enumerate(VALUES):
        record: dict[str, Any] = {"event_id": f"e{index}", "properties": {"v": value}}
        if index % 3 == 0:
            record["device_type"] = "mobile"
        if index % 2 == 1:
            record["properties"]["w"] = "x" if index % 4 == 1 else "y"
        records.append(record)
    records.append({"event_id": "no-properties"})
    adapter = TypeAdapter(Condition)
    conditions = [adapter.validate_python(c) for c in CONDITIONS]
    got, expected = decide_both_ways(tmp_path, records, conditions)
    assert_agree(got, expected, CONDITIONS)


def _boundary_case() -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Return max_km and two points: one exactly at max_km from the Berlin store, one past it."""
    berlin = context.store("berlin", 52.52, 13.405)
    for step in range(1, 200):
        lat, lon = 52.52 + step * 0.000731, 13.405 + step * 0.000917
        squared = context.squared_km(lat, lon, berlin)
        bound = math.sqrt(squared)
        for candidate in (bound, math.nextafter(bound, 0), math.nextafter(bound, 99)):
            if candidate * candidate == squared:
                beyond = (lat, math.nextafter(lon, 99))
                while context.squared_km(*beyond, berlin) == squared:
                    beyond = (beyond[0], math.nextafter(beyond[1], 99))
                return candidate, (lat, lon), beyond
    msg = "no exact boundary point found"
    raise AssertionError(msg)


def test_engine_context_conditions_equal_python_semantics(tmp_path: Path):
    (tmp_path / "stores.csv").write_text(
        "store_id,lat,lon\nberlin,52.52,13.405\nfiji,-17.7,179.99\nnorth,69.5,18.9\n"
    )
    max_km, at_bound, beyond = _boundary_case()
    names: list[Any] = [
        {"local_time": {"start": "18:00", "end": "21:00", "days": ["mon", "tue", "wed"]}},
        {"local_time": {"start": "22:00", "end": "02:00"}},
        {"local_time": {"start": "00:00", "end": "23:59", "days": ["sat", "sun"]}},
        {"store_distance": {"stores": "stores.csv", "max_km": 5}},
        {"store_distance": {"stores": "stores.csv", "max_km": max_km}},
        {"session_dwell": {"more_than": "75s"}},
        {"not": {"local_time": {"start": "09:00", "end": "17:00"}}},
        {
            "any": [
                {"store_distance": {"stores": "stores.csv", "max_km": 1}},
                {"session_dwell": {"more_than": "1s"}},
            ]
        },
    ]
    monday_1800_berlin = 1_799_168_400_000  # 2027-01-04T17:00:00Z
    times = [
        monday_1800_berlin - 1,
        monday_1800_berlin,
        monday_1800_berlin + 3 * 3_600_000 - 1,
        monday_1800_berlin + 3 * 3_600_000,
        monday_1800_berlin + 4 * 3_600_000 + 59_999,  # 22:00:59 local
        monday_1800_berlin + 9 * 3_600_000,  # Tuesday 03:00 local
        monday_1800_berlin + 5 * 86_400_000 + 60_000,  # Saturday 18:01 local
        1_806_195_600_000,  # 2027-03-28T01:00:00Z: Berlin springs to 03:00
        context.LOCAL_TIME_LIMIT_MS - 1,
        context.LOCAL_TIME_LIMIT_MS,
    ]
    zones: list[Any] = [
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "EST",
        "Nowhere/Land",
        "europe/berlin",
        "Europe/Berlin|Europe/Paris",
        5,
        None,
    ]
    places: list[tuple[Any, Any]] = [
        at_bound,
        beyond,
        (52.5201, 13.4051),
        ("52.53", "13.41"),
        (-17.7, -179.99),  # 2 km from the Fiji store, across the antimeridian
        (69.52, 18.95),
        (91, 13.4),
        (52.52, 181),
        (True, 13.4),
        (None, None),
        ("52.52 N", 13.4),
    ]
    sessions = [None, 75_000, 75_001, 0, 1_000]
    records = []
    for index, ts in enumerate(times * 12):
        record: dict[str, Any] = {"event_id": f"e{index}", "_ts": ts}
        zone = zones[index % len(zones)]
        if zone is not None:
            record["time_zone"] = zone
        lat, lon = places[index % len(places)]
        record["properties"] = {
            **({"lat": lat} if lat is not None else {}),
            **({"lon": lon} if lon is not None else {}),
        }
        dwell = sessions[index % len(sessions)]
        if dwell is not None:
            record["_session_start"] = ts - dwell
        records.append(record)
    adapter = TypeAdapter(Condition)
    context_ = {"base_dir": str(tmp_path)}
    conditions = [adapter.validate_python(c, context=context_) for c in names]
    got, expected = decide_both_ways(tmp_path, records, conditions)
    assert_agree(got, expected, names)
    # The exact bound is inside, the next representable position outside, on both sides.
    at, past = (
        next(r for r in records if (r["properties"].get("lat"), r["properties"].get("lon")) == p)
        for p in (at_bound, beyond)
    )
    assert got[at["event_id"]][4] is True and got[past["event_id"]][4] is False
