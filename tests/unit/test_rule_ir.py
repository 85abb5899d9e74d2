"""The rule IR (``journey_triggers.rules.ir``): what the JVM rule engine runs, and its schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from journey_triggers import cli
from journey_triggers.rules.ir import (
    IR_VERSION,
    RuleIR,
    RuleIRError,
    ir_json_schema_text,
    lower,
    rule_set_json,
)
from journey_triggers.rules.loader import load_rule_file, load_rules

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "rules"


def _rule(tmp_path: Path, body: str):
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n" + body)
    [loaded] = load_rule_file(path)
    return loaded.rule


def _validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "rule-ir.v1.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_ir_schema_is_the_exported_one():
    committed = (ROOT / "schemas" / "rule-ir.v1.json").read_text()
    assert committed == ir_json_schema_text(), (
        "run: python -m journey_triggers.rules.ir > schemas/rule-ir.v1.json"
    )


def test_every_rule_of_the_pack_lowers_to_ir_that_the_schema_accepts_and_that_round_trips():
    validator = _validator()
    rules = [item.rule for item in load_rules([PACK])]
    for rule in rules:
        data = lower(rule).to_json()
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], (rule.id, errors)
        assert RuleIR.model_validate(data) == lower(rule)
        assert data["ir_version"] == IR_VERSION and data["id"] == rule.id
    document = json.loads(rule_set_json(rules))
    assert document["ir_version"] == IR_VERSION
    assert [r["id"] for r in document["rules"]] == [r.id for r in rules]


def test_the_schema_rejects_an_unknown_kind_and_a_missing_field():
    validator = _validator()
    data = lower(load_rules([PACK])[0].rule).to_json()
    assert not validator.is_valid({**data, "trigger": {**data["trigger"], "kind": "teleport"}})
    assert not validator.is_valid({k: v for k, v in data.items() if k != "reads"})
    assert not validator.is_valid({**data, "ir_version": 2})


def test_durations_become_milliseconds_and_keep_the_text_explanations_quote(tmp_path):
    rule = _rule(
        tmp_path,
        """\
  - id: cart
    version: 3
    description: d
    trigger:
      kind: absence
      anchor: {event: add_to_cart, where: {field: properties.cart_value, op: ">", value: 50}}
      absent: {event: [purchase, checkout_started]}
      within: 90s
      correlate_on: [properties.cart_id]
      latest_only: false
    conditions:
      all:
        - {field: profile.orders, op: ">=", value: 2}
        - {session_dwell: {more_than: 2m}}
        - not: {local_time: {start: "22:00", end: "07:30", days: [sat, sun]}}
    output: {action: remind, channels: [email], payload: {value: properties.cart_value}}
""",
    )
    ir = lower(rule).to_json()
    trigger = ir["trigger"]
    assert (trigger["within_ms"], trigger["within_text"]) == (90_000, "90s")
    assert trigger["correlate_on"] == ["properties.cart_id"] and trigger["latest_only"] is False
    assert trigger["anchor"]["where"] == {
        "op": "field",
        "field": "properties.cart_value",
        "test": ">",
        "value": 50,
    }
    dwell, negated = ir["conditions"]["of"][1:]
    assert dwell == {"op": "session_dwell", "more_than_ms": 120_000}
    assert negated["of"] == {
        "op": "local_time",
        "start_minute": 22 * 60,
        "end_minute": 7 * 60 + 30,
        "days": ["sat", "sun"],
    }
    assert ir["reads"] == ["add_to_cart", "checkout_started", "purchase"]
    assert ir["needs"] == {"profile": True, "score": False, "session": True}
    assert ir["version"] == 3 and ir["output"]["payload"] == {"value": "properties.cart_value"}


def test_rules_are_indexed_by_the_event_types_they_read(tmp_path):
    by_id = {item.rule.id: lower(item.rule).to_json() for item in load_rules([PACK])}
    kinds = {ir["trigger"]["kind"]: ir for ir in by_id.values()}
    # Inactivity's sessions are made of every event, so it reads every type.
    assert kinds["inactivity"]["reads"] is None
    recency = kinds["recency"]
    assert set(recency["trigger"]["since_types"]) <= set(recency["reads"])
    assert set(recency["trigger"]["on"]["types"]) <= set(recency["reads"])
    for ir in by_id.values():
        assert ir["reads"] is None or ir["reads"] == sorted(set(ir["reads"]))


def test_a_store_list_is_carried_in_the_ir_so_the_engine_reads_no_files():
    [near] = [item.rule for item in load_rules([PACK]) if item.rule.id == "near_store_premium"]
    ir = lower(near).to_json()
    text = json.dumps(ir)
    assert '"op": "store_distance"' in text
    stores = (ROOT / "rules" / "stores.csv").read_text().splitlines()[1:]
    assert text.count('"store_id"') == len([s for s in stores if s.strip()])


def test_since_last_as_a_condition_is_refused_with_the_rule_named(tmp_path):
    rule = _rule(
        tmp_path,
        """\
  - id: odd
    version: 1
    description: d
    trigger: {kind: event, on: {event: login}}
    conditions: {since_last: {event: purchase, more_than: 30d}}
    output: {action: a, channels: [email]}
""",
    )
    with pytest.raises(RuleIRError, match="rule 'odd': 'since_last' is a trigger here"):
        lower(rule)


def test_explain_prints_the_ir_of_a_rule(capsys):
    assert cli.main(["explain", "cart_abandonment", "--rules", str(PACK)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["id"] == "cart_abandonment" and printed["ir_version"] == IR_VERSION
    assert printed["trigger"]["kind"] == "absence" and printed["trigger"]["within_ms"] > 0
