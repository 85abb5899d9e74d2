"""Catalog records and version lookup (``journey_triggers.catalog``)."""

from __future__ import annotations

import json

from journey_triggers.catalog import Catalog, parse_catalog_record, read_catalog


def rec(**fields: object) -> str:
    return json.dumps(fields)


def test_valid_records_and_their_defaults():
    entry = parse_catalog_record(rec(product_id="p1"))
    assert entry is not None
    assert (entry.category, entry.price, entry.margin_tier, entry.version_ms) == (
        None,
        None,
        None,
        0,
    )
    full = parse_catalog_record(
        rec(product_id="p1", category="shoes", price="12.5", margin_tier="low", updated_at=5)
    )
    assert full is not None and (full.price, full.version_ms) == (12.5, 5)
    iso = parse_catalog_record(rec(product_id="p1", updated_at="1970-01-01T00:00:01Z"))
    assert iso is not None and iso.version_ms == 1000
    nulls = parse_catalog_record(rec(product_id="p1", category=None, price=None, updated_at=None))
    assert nulls is not None and nulls.version_ms == 0


def test_invalid_records_are_dead_letters():
    bad = [
        "nope",
        "[1]",
        rec(category="x"),
        rec(product_id=""),
        rec(product_id=7),
        rec(product_id="p", price="cheap"),
        rec(product_id="p", price=True),
        rec(product_id="p", price={"amount": 1}),
        rec(product_id="p", category=3),
        rec(product_id="p", margin_tier=["high"]),
        rec(product_id="p", updated_at="yesterday"),
        rec(product_id="p", updated_at=-1),
        "[" * 1000 + "]" * 1000,  # deeper than Python's JSON parser recurses
        '{"product_id": "p", "category": ' + "[" * 5000 + "]" * 5000 + "}",
    ]
    catalog, rejected = read_catalog(bad)
    assert rejected == bad
    assert catalog.at("p", 10**15) is None


def test_lookup_takes_the_latest_version_at_or_before_the_time_and_later_records_win_ties():
    catalog, _ = read_catalog(
        [
            rec(product_id="p", price=1, updated_at=100),
            rec(product_id="p", price=2, updated_at=200),
            rec(product_id="p", price=3, updated_at=200),
        ]
    )
    assert catalog.at("p", 99) is None
    assert catalog.at("p", 100).price == 1  # type: ignore[union-attr]
    assert catalog.at("p", 199).price == 1  # type: ignore[union-attr]
    assert catalog.at("p", 200).price == 3  # type: ignore[union-attr]
    assert catalog.at("q", 200) is None
    assert isinstance(Catalog([]), Catalog)
