"""The benchmark's inputs: the 50-rule set is valid, the real-data mapping is exact and strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journey_triggers.events import Event, parse_event
from journey_triggers.rules.ir import lower
from journey_triggers.rules.loader import load_rules
from journey_triggers.rules.model import CountTrigger
from tests.perf.bench import fifty_rules
from tests.perf.real_data import amplify, rees46_events

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)


def test_fifty_rules_are_the_pack_plus_valid_variants_the_engine_runs(tmp_path):
    path = tmp_path / "rules-50.yaml"
    assert fifty_rules(path) == 50
    rules = [item.rule for item in load_rules([path])]
    assert len(rules) == 50 and len({r.id for r in rules}) == 50
    for rule in rules:
        lower(rule)  # the engine runs its IR
    by_id = {r.id: r for r in rules}
    # A variant scales windows by (4 + round) / 4 and raises thresholds by the round.
    original = by_id["repeat_product_views"].trigger
    variant = by_id["repeat_product_views_v1"].trigger
    assert isinstance(original, CountTrigger) and isinstance(variant, CountTrigger)
    assert original.within == "48h" and variant.within == "60h"
    assert variant.at_least == original.at_least + 1


def test_rees46_rows_map_to_valid_events_with_running_carts(tmp_path):
    csv = tmp_path / "sample.csv"
    csv.write_text(
        f"{HEADER}\n"
        "2019-10-01 00:00:00 UTC,view,44600062,2103,appliances.kitchen.kettle,aqua,35.79,7,s1\n"
        "2019-10-01 00:00:01 UTC,cart,44600062,2103,appliances.kitchen.kettle,aqua,35.79,7,s1\n"
        "2019-10-01 00:00:02 UTC,cart,5100816,2103,,,10.10,7,s1\n"
        "2019-10-01 00:00:03 UTC,purchase,5100816,2103,,,10.10,7,s1\n"
    )
    lines = list(rees46_events(csv))
    events = [parse_event(line) for line in lines]
    assert all(isinstance(e, Event) for e in events)
    records = [json.loads(line) for line in lines]
    assert [r["event_type"] for r in records] == [
        "product_view",
        "add_to_cart",
        "add_to_cart",
        "purchase",
    ]
    assert records[0]["customer_id"] == "rees46-7" and records[0]["session_id"] == "s1"
    assert records[0]["ts"] == 1_569_888_000_000
    assert records[0]["properties"]["category"] == "kettle"
    assert records[2]["properties"] == {
        "cart_items": 2,
        "cart_value": 45.89,
        "price": 10.1,
        "product_id": "5100816",
    }


def test_a_row_that_cannot_be_mapped_is_reported_with_file_and_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text(f"{HEADER}\n2019-10-01 00:00:00 UTC,teleport,1,2,,,1.0,7,s1\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: "):
        list(rees46_events(csv))


def test_amplified_copies_have_their_own_ids_and_times_in_order(tmp_path):
    csv = tmp_path / "sample.csv"
    csv.write_text(
        f"{HEADER}\n"
        "2019-10-01 00:00:00 UTC,view,1,2,,,1.0,7,s1\n"
        "2019-10-01 00:10:00 UTC,view,1,2,,,1.0,7,s1\n"
    )
    records = [json.loads(line) for line in amplify(rees46_events(csv), 2, 300_000)]
    assert [r["ts"] - 1_569_888_000_000 for r in records] == [0, 300_000, 600_000, 900_000]
    assert len({r["event_id"] for r in records}) == 4
    assert {r["customer_id"] for r in records} == {"rees46-7-c0", "rees46-7-c1"}
    assert isinstance(parse_event(json.dumps(records[1])), Event)
    assert Path(csv).exists()
