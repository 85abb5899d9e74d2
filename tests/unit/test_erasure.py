"""Erasure in the detection state (``semantics.erasure``): voided links and epochs."""

from __future__ import annotations

import json
from typing import Any

from journey_triggers.events import Event, parse_event
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.erasure import customer_of, state_key, with_epochs
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.identity import resolve_identities
from journey_triggers.semantics.profile import with_profiles

T0 = 1_800_000_000_000


def ev(event_id: str, ms: int, event_type: str = "page_view", **fields: Any) -> Event:
    record = {"event_id": event_id, "event_type": event_type, "ts": T0 + ms, **fields}
    parsed = parse_event(json.dumps(record))
    assert isinstance(parsed, Event)
    return parsed


def erasure(event_id: str, ms: int, customer: str = "c") -> Event:
    return ev(event_id, ms, "erasure_request", customer_id=customer)


def keys(events: list[Event], window_ms: int = 0) -> dict[str, str]:
    return {e.event_id: e.customer_key for e in with_epochs(resolve_identities(events, window_ms))}


def test_an_erasure_voids_older_links_and_a_new_login_links_again():
    events = [
        ev("login", 0, anonymous_id="a", customer_id="c"),
        ev("linked", 1_000, anonymous_id="a"),
        erasure("erase", 2_000),
        ev("same_ms", 2_000, anonymous_id="a"),
        ev("unlinked", 3_000, anonymous_id="a"),
        ev("relogin", 4_000, anonymous_id="a", customer_id="c"),
        ev("relinked", 5_000, anonymous_id="a"),
    ]
    assert keys(events) == {
        "login": "0:c",
        "linked": "0:c",
        "erase": "1:c",
        "same_ms": "0:anon:a",
        "unlinked": "0:anon:a",
        "relogin": "1:c",
        "relinked": "1:c",
    }


def test_a_window_link_after_the_erasure_counts_and_one_before_it_does_not():
    events = [
        ev("early", 0, anonymous_id="a"),  # before the erasure: the old epoch
        ev("login", 500, anonymous_id="a", customer_id="c"),
        erasure("erase", 1_000),
        ev("between", 1_500, anonymous_id="a"),  # its window link (relogin) is after the erasure
        ev("relogin", 2_000, anonymous_id="a", customer_id="c"),
    ]
    assert keys(events, window_ms=1_000) == {
        "early": "0:c",
        "login": "0:c",
        "erase": "1:c",
        "between": "1:c",
        "relogin": "1:c",
    }
    # Without a window, "between" had only the voided link before it.
    assert keys(events)["between"] == "0:anon:a"


def test_another_customers_erasure_changes_nothing():
    events = [
        ev("login", 0, anonymous_id="a", customer_id="c"),
        erasure("erase", 1_000, customer="d"),
        ev("after", 2_000, anonymous_id="a"),
    ]
    assert keys(events) == {"login": "0:c", "erase": "1:d", "after": "0:c"}


def test_the_profile_starts_again_after_an_erasure():
    events = [
        ev(
            "buy",
            0,
            "purchase",
            customer_id="c",
            time_zone="Europe/Paris",
            properties={"cart_value": 40},
        ),
        erasure("erase", 1_000),
        ev("view", 2_000, customer_id="c"),
    ]
    profiles = {
        e.event_id: e.profile for e in with_profiles(with_epochs(resolve_identities(events)))
    }
    assert profiles["buy"] is not None and profiles["buy"]["orders"] == 1
    after = profiles["view"]
    assert after is not None
    assert (after["orders"], after["revenue"], after["time_zone"], after["events"]) == (
        0, 0.0, None, 2
    )  # fmt: skip
    # The request itself is the new epoch's first event (events of its millisecond are after it).
    assert after["first_seen_ms"] == T0 + 1_000


def test_a_threshold_counts_no_event_from_before_the_erasure():
    rules = [
        Rule.model_validate(
            {
                "id": "twice",
                "version": 1,
                "description": "Viewed a product twice in 48 h.",
                "trigger": {
                    "kind": "count",
                    "on": {"event": "product_view"},
                    "at_least": 2,
                    "within": "48h",
                },
                "output": {"action": "nudge", "channels": ["email"]},
            }
        )
    ]
    views = [ev(f"v{n}", n * 60_000, "product_view", customer_id="c") for n in range(3)]
    erased = [views[0], erasure("erase", 30_000), views[1], views[2]]
    # Without the erasure the second view fires; with it, the third (two views after it).
    assert [d.explanation["anchor_event_id"] for d in evaluate_rules(rules, views)][0] == "v1"
    fired = evaluate_rules(rules, erased)
    assert [(d.customer_id, d.explanation["anchor_event_id"]) for d in fired] == [("c", "v2")]


def test_state_keys_round_trip_ids_that_hold_the_separator():
    for customer in ("c", "anon:a", "device:x:y", ":"):
        assert customer_of(state_key(customer, 3)) == customer
