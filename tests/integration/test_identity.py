"""Cross-device journeys through the Flink job: anonymous events count for the linked customer.

Each journey is a handful of events, and the test states who each decision must be for. Then
generated traffic with many cross-device customers checks the job against the reference at
parallelism 2, with and without the identity window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

RULES = tuple(
    item.rule for item in load_rules([Path(__file__).parent / "data" / "identity_rules.yaml"])
)
T0 = 1_800_000_000_000
MINUTE = 60_000


def event(event_id: str, event_type: str, minute: float, **fields: Any) -> str:
    record = {"event_id": event_id, "event_type": event_type, "ts": T0 + int(minute * MINUTE)}
    return json.dumps({**record, **fields})


def journeys() -> list[str]:
    mobile = {"anonymous_id": "a-mobile", "device_id": "d-phone", "device_type": "mobile"}
    desktop = {"anonymous_id": "a-desk", "device_id": "d-desk", "device_type": "desktop"}
    tablet = {"anonymous_id": "a-tablet", "device_type": "tablet"}
    return [
        # Ann browses on her phone anonymously, logs in on it, then carts on her desktop, where
        # she logged in earlier; the desktop cart is anonymous (the tracker lost the login).
        event("m1", "product_view", 0, properties={"product_id": "p1"}, **mobile),
        event("d0", "login", 1, customer_id="ann", **desktop),
        event("m2", "login", 5, customer_id="ann", **mobile),
        event("d1", "product_view", 20, properties={"product_id": "p1"}, **desktop),
        event("d2", "add_to_cart", 21, properties={"product_id": "p1"}, **desktop),
        # A shared tablet: Bob logs in, later someone browses anonymously and Cat logs in.
        event("t1", "login", 100, customer_id="bob", **tablet),
        event("t2", "product_view", 160, properties={"product_id": "p2"}, **tablet),
        event("t3", "add_to_cart", 161, properties={"product_id": "p2"}, **tablet),
        event("t4", "login", 170, customer_id="cat", **tablet),
        # A kiosk that sends only a device id: linked by a login carrying the device id.
        event("k1", "login", 200, customer_id="dan", device_id="d-kiosk"),
        event("k2", "add_to_cart", 201, device_id="d-kiosk"),
        # A visitor who never logs in stays anonymous.
        event("v1", "add_to_cart", 300, anonymous_id="a-visitor"),
        # The end of the data: pushes event time past every window.
        event("end", "page_view", 10_000, customer_id="zed"),
    ]


def owners(decisions: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (d["rule_id"], d["customer_id"], d["explanation"]["anchor_event_id"]) for d in decisions
    }


@pytest.mark.parametrize(
    ("window_ms", "expected"),
    [
        (
            0,
            {
                ("abandoned_cart", "ann", "d2"),
                # m1 came before the phone's login: with no window it stays anonymous.
                ("abandoned_cart", "bob", "t3"),
                ("abandoned_cart", "dan", "k2"),
                ("abandoned_cart", "anon:a-visitor", "v1"),
            },
        ),
        (
            30 * MINUTE,
            {
                ("abandoned_cart", "ann", "d2"),
                # The phone's browsing before the login counts for Ann: two views of p1.
                ("viewed_product_twice", "ann", "d1"),
                # Cat logs in 9 minutes after the tablet's anonymous cart: it is hers.
                ("abandoned_cart", "cat", "t3"),
                ("abandoned_cart", "dan", "k2"),
                ("abandoned_cart", "anon:a-visitor", "v1"),
            },
        ),
    ],
)
def test_cross_device_journeys_fire_for_the_linked_customer(tmp_path, window_ms, expected):
    lines = journeys()
    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    assert len(events) == len(lines)
    reference = [d.to_record() for d in evaluate_rules(RULES, events, identity_window_ms=window_ms)]
    assert owners(reference) == expected

    config = JobConfig(parallelism=2, rules=RULES, identity_window_ms=window_ms)
    out = run_on_file(lines, tmp_path, config)
    assert owners(out["decisions"]) == expected
    assert_same_decisions(out["decisions"], reference)


# A soak variant: in CI, the journeys above hold both windows to the reference, and
# test_fuzz_job.py random histories with logins, anonymous and device-only events.
@pytest.mark.soak
def test_generated_cross_device_traffic_equals_reference_with_and_without_window(tmp_path):
    lines = [
        line
        for _, line in generate(
            GeneratorConfig(customers=600, seed=8, disorder_ms=15_000, horizon_ms=3 * 86_400_000)
        )
    ]
    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    by_id = {e.event_id: e for e in on_time}
    results = []
    for window_ms in (0, 30 * MINUTE):
        expected = [
            d.to_record() for d in evaluate_rules(RULES, on_time, identity_window_ms=window_ms)
        ]
        # Stitching must matter in this traffic: decisions anchored on anonymous events that
        # belong to a known customer.
        stitched = [
            d
            for d in expected
            if by_id[d["explanation"]["anchor_event_id"]].customer_id is None
            and not d["customer_id"].startswith(("anon:", "device:"))
        ]
        print(f"window {window_ms} ms: {len(expected)} decisions, {len(stitched)} stitched")
        assert len(stitched) >= 20
        config = JobConfig(
            parallelism=2, out_of_orderness_ms=10_000, rules=RULES, identity_window_ms=window_ms
        )
        out = run_on_file(lines, tmp_path, config, f"w{window_ms}")
        assert_same_decisions(out["decisions"], expected)
        results.append({d["decision_id"]: d["customer_id"] for d in expected})
    assert results[0] != results[1], "the identity window changed no decision"
