from __future__ import annotations

import json
from collections import Counter

from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate


def test_same_seed_gives_identical_records_and_other_seed_differs():
    cfg = GeneratorConfig(customers=30, seed=3)
    assert list(generate(cfg)) == list(generate(cfg))
    assert list(generate(GeneratorConfig(customers=30, seed=4))) != list(generate(cfg))


def test_journeys_cover_carts_purchases_logins_and_email():
    types = Counter(
        json.loads(line)["event_type"] for _, line in generate(GeneratorConfig(customers=200))
    )
    for kind in ("page_view", "product_view", "add_to_cart", "purchase", "login", "email_open"):
        assert types[kind] > 0, kind


def test_login_links_anonymous_device_to_customer():
    records = [json.loads(line) for _, line in generate(GeneratorConfig(customers=200))]
    logins = [r for r in records if r["event_type"] == "login"]
    assert logins
    assert all(r["customer_id"] and r["anonymous_id"] for r in logins)
    anonymous_only = [r for r in records if "customer_id" not in r]
    assert anonymous_only, "some browsing must stay anonymous"


def test_arrival_disorder_stays_within_the_configured_bound():
    cfg = GeneratorConfig(customers=200, disorder_ms=2_000)
    highest = 0
    for _, line in generate(cfg):
        event = parse_event(line)
        assert isinstance(event, Event)
        assert event.ts_ms >= highest - cfg.disorder_ms
        highest = max(highest, event.ts_ms)


def test_invalid_share_mixes_in_malformed_records():
    lines = [line for _, line in generate(GeneratorConfig(customers=200, invalid_share=0.05))]
    assert sum(not isinstance(parse_event(line), Event) for line in lines) > 10
