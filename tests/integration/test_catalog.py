"""Catalog enrichment on the minicluster: each decision carries its product as of its event time.

The catalog changes in the middle of the traffic (new prices, a product appears late, one is
never listed), and holds invalid records, which go to the dead letters. The whole standard
pack runs, so every trigger kind's candidates are enriched; the decisions equal the reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.specs import FileCatalogSpec
from journey_triggers.catalog import REJECT_INVALID_CATALOG_RECORD, read_catalog
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_798_761_600_000  # 2027-01-01T00:00Z, the generator's default start
DAY = 86_400_000


def catalog_lines() -> list[str]:
    lines = []
    for index in range(60):
        product = f"p{index:04d}"
        if index == 7:
            continue  # never listed: decisions say in_catalog false
        first = {"product_id": product, "category": f"c{index % 5}", "price": 10.0 + index}
        if index == 8:
            first["updated_at"] = START_MS + DAY  # listed one day in
        if index % 3 == 0:
            first["margin_tier"] = "high"
        lines.append(json.dumps(first))
        if index % 4 == 0:  # a price change on day two, in ISO form
            change = {**first, "price": 5.5 + index, "updated_at": "2027-01-03T00:00:00Z"}
            lines.append(json.dumps(change))
    lines += [
        "not json",
        json.dumps({"category": "x"}),
        json.dumps({"product_id": "p9999", "price": "cheap"}),
        json.dumps({"product_id": "p9998", "updated_at": "yesterday"}),
        json.dumps({"product_id": "p9997", "category": 5}),
        "[1]",
        json.dumps({"product_id": 7}),
        json.dumps({"product_id": ""}),
        json.dumps({"product_id": "p9996", "price": True}),
        json.dumps({"product_id": "p9995", "price": {"amount": 1}}),
        json.dumps({"product_id": "p9994", "margin_tier": ["high"]}),
        json.dumps({"product_id": "p9993", "updated_at": -1}),
        # Valid, with explicit nulls and a numeric string price.
        json.dumps({"product_id": "p0007x", "category": None, "price": "3.5", "updated_at": None}),
    ]
    return lines


def test_decisions_carry_the_catalog_version_in_effect_at_their_event_time(tmp_path):
    rules = tuple(
        item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"]) if item.rule.enabled
    )
    catalog_file = tmp_path / "catalog.jsonl"
    catalog_file.write_text("".join(line + "\n" for line in catalog_lines()))
    catalog, rejected = read_catalog(catalog_lines())
    assert len(rejected) == 12

    config = GeneratorConfig(customers=250, seed=17, disorder_ms=10_000, horizon_ms=4 * DAY)
    traffic = [line for _, line in generate(config)]
    valid = [e for line in traffic if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    expected = [d.to_record() for d in evaluate_rules(rules, on_time, catalog=catalog)]
    products = [d["product"] for d in expected if d["product"] is not None]
    # Every case happens: listed, unlisted, not yet listed, before and after a price change.
    assert {p["in_catalog"] for p in products} == {True, False}
    assert {p["product_id"] for p in products if not p["in_catalog"]} >= {"p0007", "p0008"}
    assert {p["price"] for p in products if p["product_id"] == "p0004"} == {14.0, 9.5}
    kinds = {d["explanation"]["kind"] for d in expected if d["product"] is not None}
    assert kinds >= {"event", "absence", "count", "sequence", "inactivity"}, kinds

    job = JobConfig(
        parallelism=2,
        out_of_orderness_ms=10_000,
        rules=rules,
        catalog=FileCatalogSpec(path=str(catalog_file)),
    )
    out = run_on_file(traffic, tmp_path, job)
    assert_same_decisions(out["decisions"], expected)
    dead = [d for d in out["dead_letters"] if d["reason"] == REJECT_INVALID_CATALOG_RECORD]
    assert sorted(d["raw"] for d in dead) == sorted(rejected)
    assert all(d["source"].endswith("catalog.jsonl") for d in dead)
