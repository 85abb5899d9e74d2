"""Identity stitching rules (``semantics.identity``), on hand-made events."""

from __future__ import annotations

import json
from typing import Any

from journey_triggers.events import Event, parse_event
from journey_triggers.semantics.identity import resolve_identities

T0 = 1_800_000_000_000


def ev(event_id: str, ms: int, **ids: Any) -> Event:
    record = {"event_id": event_id, "event_type": "page_view", "ts": T0 + ms, **ids}
    parsed = parse_event(json.dumps(record))
    assert isinstance(parsed, Event)
    return parsed


def keys(events: list[Event], window_ms: int = 0) -> dict[str, str]:
    return {e.event_id: e.customer_key for e in resolve_identities(events, window_ms)}


def test_links_apply_forwards_from_the_link_time_inclusive():
    events = [
        ev("before", -1, anonymous_id="a"),
        ev("link", 0, anonymous_id="a", customer_id="c"),
        ev("same_ms", 0, anonymous_id="a"),
        ev("after", 5_000, anonymous_id="a"),
    ]
    assert keys(events) == {"before": "anon:a", "link": "c", "same_ms": "c", "after": "c"}


def test_window_links_earlier_anonymous_events_and_its_end_is_inclusive():
    events = [
        ev("too_early", -1_001, anonymous_id="a"),
        ev("at_edge", -1_000, anonymous_id="a"),
        ev("link", 0, anonymous_id="a", customer_id="c"),
    ]
    assert keys(events, 1_000) == {"too_early": "anon:a", "at_edge": "c", "link": "c"}


def test_next_link_in_window_beats_the_previous_link():
    events = [
        ev("bob_login", 0, anonymous_id="t", customer_id="bob"),
        ev("browse", 60_000, anonymous_id="t"),
        ev("cat_login", 90_000, anonymous_id="t", customer_id="cat"),
        ev("later", 200_000, anonymous_id="t"),
    ]
    assert keys(events, 0)["browse"] == "bob"
    assert keys(events, 30_000)["browse"] == "cat"
    assert keys(events, 29_999)["browse"] == "bob"
    assert keys(events, 30_000)["later"] == "cat"


def test_links_in_the_same_millisecond_order_by_customer_id():
    events = [
        ev("x", 0, anonymous_id="a", customer_id="zoe"),
        ev("y", 0, anonymous_id="a", customer_id="amy"),
        ev("browse_before", -10, anonymous_id="a"),
        ev("browse_after", 10, anonymous_id="a"),
    ]
    # Latest at or before: the greatest id; earliest after, in the window: the least.
    assert keys(events, 100)["browse_before"] == "amy"
    assert keys(events, 0)["browse_after"] == "zoe"
    assert keys(list(reversed(events)), 100) == keys(events, 100)


def test_device_id_is_the_token_without_an_anonymous_id():
    events = [
        ev("login", 0, device_id="k", customer_id="dan"),
        ev("kiosk", 1, device_id="k"),
        ev("other", 2, device_id="k", anonymous_id="b"),
    ]
    # "other" has an anonymous id, so its token is anon:b, which no login linked.
    assert keys(events) == {"login": "dan", "kiosk": "dan", "other": "anon:b"}


def test_device_only_records_are_valid_and_keyed_by_device():
    assert ev("solo", 0, device_id="d1").customer_key == "device:d1"


def test_window_counts_byte_identical_anonymous_copies_once():
    copy = ev("dup", 0, anonymous_id="a")
    link = ev("link", 10, anonymous_id="a", customer_id="c")
    assert [e.event_id for e in resolve_identities([copy, copy, link], 100)] == ["dup", "link"]
    assert [e.event_id for e in resolve_identities([copy, copy, link], 0)] == ["dup", "dup", "link"]
