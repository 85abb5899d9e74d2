"""Context conditions in plain Python: local time, store distance, session dwell, store lists."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from journey_triggers.events import Event
from journey_triggers.rules.loader import RuleFileError, load_rule_file
from journey_triggers.rules.model import Condition
from journey_triggers.semantics import context
from journey_triggers.semantics.conditions import evaluate
from journey_triggers.semantics.evaluator import evaluate_rules

CONDITION = TypeAdapter(Condition)
MONDAY_1800_BERLIN = 1_799_168_400_000  # 2027-01-04T17:00:00Z, 18:00 in Berlin
HOUR = 3_600_000


def event(ts_ms: int = 0, *, session_start: int | None = None, **record: object) -> Event:
    return Event(
        event_id="e",
        event_type="product_view",
        customer_key="c",
        ts_ms=ts_ms,
        record=record,
        session_start_ms=session_start,
    )


def holds(condition: dict[str, Any], item: Event, base_dir: Path | None = None) -> bool:
    ctx = {"base_dir": str(base_dir)} if base_dir else None
    return evaluate(CONDITION.validate_python(condition, context=ctx), item)


EVENING = {"local_time": {"start": "18:00", "end": "21:00", "days": ["mon", "tue"]}}


def test_local_window_includes_its_start_and_excludes_its_end():
    assert not holds(EVENING, event(MONDAY_1800_BERLIN - 1, time_zone="Europe/Berlin"))
    assert holds(EVENING, event(MONDAY_1800_BERLIN, time_zone="Europe/Berlin"))
    assert holds(EVENING, event(MONDAY_1800_BERLIN + 3 * HOUR - 1, time_zone="Europe/Berlin"))
    assert not holds(EVENING, event(MONDAY_1800_BERLIN + 3 * HOUR, time_zone="Europe/Berlin"))


def test_local_time_follows_the_customers_zone_and_its_local_day():
    # 17:00Z on Monday is 12:00 in New York and 22:30 in Kolkata: outside the window in both.
    assert not holds(EVENING, event(MONDAY_1800_BERLIN, time_zone="America/New_York"))
    assert not holds(EVENING, event(MONDAY_1800_BERLIN, time_zone="Asia/Kolkata"))
    # 19:00 Monday in New York is already Tuesday in UTC; the local day counts.
    assert holds(EVENING, event(MONDAY_1800_BERLIN + 7 * HOUR, time_zone="America/New_York"))
    # Wednesday 18:00 in Berlin is not one of the days.
    assert not holds(EVENING, event(MONDAY_1800_BERLIN + 48 * HOUR, time_zone="Europe/Berlin"))


def test_local_time_uses_daylight_saving_time():
    # 2027-03-28: Berlin springs from 02:00 to 03:00 at 01:00Z. 17:00Z is then 19:00 local.
    spring = 1_806_253_200_000  # 2027-03-28T17:00:00Z, a Sunday
    window = {"local_time": {"start": "19:00", "end": "19:01"}}
    assert holds(window, event(spring, time_zone="Europe/Berlin"))
    assert not holds(window, event(spring - 7 * 86_400_000, time_zone="Europe/Berlin"))


def test_a_window_that_ends_before_it_starts_wraps_past_midnight():
    late = {"local_time": {"start": "22:00", "end": "02:00"}}
    assert holds(late, event(MONDAY_1800_BERLIN + 4 * HOUR, time_zone="Europe/Berlin"))  # 22:00
    assert holds(
        late, event(MONDAY_1800_BERLIN + 7 * HOUR + 59 * 60_000, time_zone="Europe/Berlin")
    )  # 01:59
    assert not holds(late, event(MONDAY_1800_BERLIN + 8 * HOUR, time_zone="Europe/Berlin"))  # 02:00
    assert not holds(late, event(MONDAY_1800_BERLIN + 3 * HOUR, time_zone="Europe/Berlin"))  # 21:00


@pytest.mark.parametrize("zone", ["EST", "Nowhere/Land", "europe/berlin", "", 5, None])
def test_without_a_known_zone_local_time_is_false_both_ways(zone):
    record = {} if zone is None else {"time_zone": zone}
    assert not holds(EVENING, event(MONDAY_1800_BERLIN, **record))
    assert holds({"not": EVENING}, event(MONDAY_1800_BERLIN, **record))


def test_local_time_is_false_from_2037_on():
    assert context.local_minute_and_day(context.LOCAL_TIME_LIMIT_MS - 1, "UTC") == (1439, "wed")
    assert context.local_minute_and_day(context.LOCAL_TIME_LIMIT_MS, "UTC") is None


def test_accepted_zones_are_area_location_names_and_utc():
    zones = context.zones()
    assert "Europe/Berlin" in zones and "UTC" in zones and "America/Argentina/Salta" in zones
    assert not {"EST", "PST8PDT", "SystemV/EST5", "Factory"} & set(zones)


def _stores(tmp_path: Path, text: str = "store_id,lat,lon\nberlin,52.52,13.405\n") -> Path:
    (tmp_path / "stores.csv").write_text(text)
    return tmp_path


def test_store_distance_is_true_within_max_km_of_any_store(tmp_path):
    near = {"store_distance": {"stores": "stores.csv", "max_km": 5}}
    base = _stores(tmp_path, "store_id,lat,lon\nberlin,52.52,13.405\nparis,48.8718,2.3319\n")
    assert holds(near, event(properties={"lat": 52.53, "lon": 13.45}), base)  # about 3.3 km
    assert holds(near, event(properties={"lat": "48.87", "lon": "2.34"}), base)
    assert not holds(near, event(properties={"lat": 52.6, "lon": 13.405}), base)  # 8.9 km
    assert not holds(near, event(properties={"lat": 52.52}), base)
    assert not holds(near, event(properties={"lat": 91, "lon": 13.405}), base)
    assert not holds(near, event(properties={"lat": "north", "lon": 13.405}), base)


def test_store_distance_goes_the_short_way_across_the_antimeridian(tmp_path):
    base = _stores(tmp_path, "store_id,lat,lon\nfiji,-17.7,179.99\n")
    near = {"store_distance": {"stores": "stores.csv", "max_km": 3}}
    assert holds(near, event(properties={"lat": -17.7, "lon": -179.99}), base)  # 2.1 km


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * context.EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@pytest.mark.parametrize(("max_km", "tolerance"), [(10, 0.001), (50, 0.005)])
def test_store_distance_close_to_haversine(max_km, tolerance):
    rng = random.Random(5)
    worst = 0.0
    for _ in range(20_000):
        place = context.store("s", rng.uniform(-70, 70), rng.uniform(-180, 180))
        bearing, km = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, max_km)
        lat = place.lat + km * math.cos(bearing) / context.KM_PER_DEGREE
        lon = place.lon + km * math.sin(bearing) / place.kx
        lon = (lon + 540) % 360 - 180
        exact = _haversine_km(place.lat, place.lon, lat, lon)
        worst = max(worst, abs(math.sqrt(context.squared_km(lat, lon, place)) - exact) / exact)
    assert worst < tolerance, worst


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("id,lat,lon\nberlin,52.52,13.4\n", "stores.csv:1: a store list starts with the header"),
        ("store_id,lat,lon\nberlin,52.52\n", "stores.csv:2: expected 3 columns"),
        ("store_id,lat,lon\nberlin,52.52,13.4\nx,95,1\n", "stores.csv:3: expected a store id"),
        ("store_id,lat,lon\n,52.5,13.4\n", "stores.csv:2: expected a store id"),
        ("store_id,lat,lon\n", "the store list has no stores"),
    ],
)
def test_bad_store_lists_are_reported_with_the_rule_file_line_and_the_csv_line(
    tmp_path, csv_text, message
):
    _stores(tmp_path, csv_text)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: near\n    version: 1\n    description: near a store\n"
        "    trigger: {kind: event, on: {event: product_view}}\n"
        "    conditions:\n"
        "      store_distance: {stores: stores.csv, max_km: 5}\n"
        "    output: {action: invite, channels: [push]}\n"
    )
    with pytest.raises(RuleFileError) as info:
        load_rule_file(rules)
    [problem] = info.value.problems
    assert str(problem).startswith(f"{rules}:8: rule 'near': ")
    assert message in str(problem)


def test_a_missing_store_list_is_reported(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: near\n    version: 1\n    description: near a store\n"
        "    trigger: {kind: event, on: {event: product_view}}\n"
        "    conditions: {store_distance: {stores: missing.csv, max_km: 5}}\n"
        "    output: {action: invite, channels: [push]}\n"
    )
    with pytest.raises(RuleFileError, match=r"rules.yaml:7: rule 'near': store list .*missing.csv"):
        load_rule_file(rules)


DWELL = {"session_dwell": {"more_than": "75s"}}


def test_session_dwell_is_strictly_more_than_the_bound():
    assert not holds(DWELL, event(75_000, session_start=0))
    assert holds(DWELL, event(75_001, session_start=0))
    assert not holds(DWELL, event(75_001))  # no session


def test_session_start_is_the_sessions_earliest_event_whatever_the_order(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: dwell\n    version: 1\n    description: long session\n"
        "    trigger: {kind: event, on: {event: product_view}}\n"
        "    conditions: {session_dwell: {more_than: 75s}}\n"
        "    output: {action: nudge, channels: [push]}\n"
    )
    [loaded] = load_rule_file(rules)

    def view(event_id: str, ts_ms: int, session: str | None) -> Event:
        record = {"event_id": event_id, "session_id": session} if session else {}
        return Event(event_id, "product_view", "c", ts_ms, session_id=session, record=record)

    events = [
        view("late-in-a", 100_000, "a"),
        view("first-in-a", 20_000, "a"),  # arrives later, is earlier: dwell 80 s for the first
        view("in-b", 100_000, "b"),
        view("no-session", 100_000, None),
    ]
    fired = [d.explanation["anchor_event_id"] for d in evaluate_rules([loaded.rule], events)]
    assert fired == ["late-in-a"]
    assert fired == [
        d.explanation["anchor_event_id"] for d in evaluate_rules([loaded.rule], events[::-1])
    ]
