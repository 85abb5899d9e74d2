"""Rule changes: parsing a control message, and the reference's timeline of activations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from journey_triggers.events import Event, parse_event
from journey_triggers.rules.changes import (
    RuleChange,
    RuleChangeError,
    parse_rule_change,
)
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.rule_changes import rule_timeline

T0 = 1_800_000_000_000
MINUTE = 60_000
ABSENCE = {
    "id": "cart",
    "version": 1,
    "description": "Added to cart, no purchase within 15 minutes.",
    "trigger": {
        "kind": "absence",
        "anchor": {"event": "add_to_cart"},
        "absent": {"event": "purchase"},
        "within": "15m",
    },
    "output": {"action": "remind", "channels": ["email"]},
}
VIEW = {
    "id": "view",
    "version": 1,
    "description": "Any page view.",
    "trigger": {"kind": "event", "on": {"event": "page_view"}},
    "output": {"action": "hello", "channels": ["push"]},
}


def rule(data: dict[str, Any], **update: object) -> Rule:
    return Rule.model_validate({**data, **update})


def put(data: dict[str, Any], at: int, **update: object) -> RuleChange:
    return RuleChange("put", data["id"], at, rule(data, **update))


def event(event_id: str, event_type: str, ts: int) -> Event:
    record = {"event_id": event_id, "event_type": event_type, "customer_id": "c1", "ts": ts}
    parsed = parse_event(json.dumps(record))
    assert isinstance(parsed, Event)
    return parsed


def fired(decisions) -> list[str]:
    return sorted(
        f"{d.rule_id}@{d.rule_version}:{(d.trigger_time_ms - T0) // MINUTE}" for d in decisions
    )


def test_a_put_message_in_yaml_or_json_with_its_effective_time():
    text = "op: put\neffective_from: '2027-01-15T08:00:00Z'\nrule:\n" + "".join(
        f"  {line}\n" for line in json.dumps(ABSENCE).splitlines()
    )
    change = parse_rule_change(text, published_ms=5)
    assert (change.op, change.rule_id, change.effective_ms) == ("put", "cart", T0)
    assert change.rule is not None and change.rule.version == 1
    as_json = json.dumps({"op": "disable", "rule_id": "cart"})
    assert parse_rule_change(as_json, published_ms=5) == RuleChange("disable", "cart", 5)
    engine_form = json.loads(change.to_json())
    assert engine_form["rule"]["id"] == "cart" and engine_form["rule"]["ir_version"] == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("[1, 2]", "a rule change is a mapping"),
        ("op: rename\nrule_id: cart", "'op' must be one of put, disable, enable, remove"),
        ("op: disable", "'disable' names its rule with 'rule_id'"),
        ("op: put\nrule_id: cart", "'put' carries the whole rule"),
        ("op: remove\nrule_id: cart\nwhen: now", "unknown key 'when'"),
        ("op: remove\nrule_id: cart\neffective_from: yesterday", "effective_from must be"),
        ("op: remove\nrule_id: cart\neffective_from: -1", "effective_from must be >= 0"),
        ("op: put\nrule: {id: cart}", "rule 'cart': 'version' is required"),
        ("op: put\nrule: 7", "'rule' must be a mapping"),
        ("op: [put", "not valid YAML or JSON at line "),
        ("[" * 1000 + "]" * 1000, "nested more than 32 levels deep"),
    ],
)
def test_invalid_messages_say_why(message, reason):
    with pytest.raises(RuleChangeError) as caught:
        parse_rule_change(message, published_ms=0)
    assert reason in str(caught.value)


def test_a_live_rule_cannot_bring_a_score_condition_or_outwait_the_catalog():
    scored = {**VIEW, "conditions": {"score": {"gte": 0.5}}}
    start = (rule(scored),)
    # Unchanged from the rule files: allowed (the engine sees the same rule, a no-op).
    same = parse_rule_change(json.dumps({"op": "put", "rule": scored}), 0, start_rules=start)
    assert same.rule == start[0]
    with pytest.raises(RuleChangeError, match="score condition cannot be added or changed live"):
        parse_rule_change(
            json.dumps({"op": "put", "rule": {**scored, "id": "new"}}), 0, start_rules=()
        )
    with pytest.raises(RuleChangeError, match="score condition"):
        edited = {**VIEW, "version": 2}  # a new version of a start rule with a score condition
        parse_rule_change(json.dumps({"op": "put", "rule": edited}), 0, start_rules=start)
    with pytest.raises(RuleChangeError, match="longer than the catalog keeps versions"):
        parse_rule_change(
            json.dumps({"op": "put", "rule": ABSENCE}), published_ms=0, catalog_retention_ms=60_000
        )


def test_an_unchanged_rule_keeps_its_pending_cart_when_another_rule_is_added():
    events = [event("a", "add_to_cart", T0), event("v1", "page_view", T0 + 5 * MINUTE)]
    events.append(event("v2", "page_view", T0 + 20 * MINUTE))
    changes = [put(VIEW, T0 + 10 * MINUTE)]
    got = evaluate_rules([rule(ABSENCE)], events, changes=changes)
    assert fired(got) == ["cart@1:15", "view@1:20"]


def test_an_edit_drops_the_old_versions_pending_triggers_and_new_anchors_use_the_new_one():
    events = [event("a", "add_to_cart", T0), event("b", "add_to_cart", T0 + 12 * MINUTE)]
    changes = [put(ABSENCE, T0 + 10 * MINUTE, version=2)]
    assert fired(evaluate_rules([rule(ABSENCE)], events, changes=changes)) == ["cart@2:27"]


def test_disable_enable_remove_and_the_rejections():
    events = [event(f"a{i}", "add_to_cart", T0 + i * 20 * MINUTE) for i in range(5)]
    changes = [
        RuleChange("disable", "cart", T0 + 10 * MINUTE),  # a0's deadline at 15 passes unfired
        RuleChange("enable", "cart", T0 + 30 * MINUTE),  # a1 (20) was while disabled
        put(ABSENCE, T0, description="edited without a new version"),  # stale
        RuleChange("remove", "nope", T0),  # unknown
        RuleChange("remove", "cart", T0 + 70 * MINUTE),  # a3 (60) fires at 75: dropped
        put(ABSENCE, T0 + 80 * MINUTE),  # removed: the version must rise
    ]
    got = evaluate_rules([rule(ABSENCE)], events, changes=changes)
    assert fired(got) == ["cart@1:55"]
    timeline = rule_timeline([rule(ABSENCE)], changes)
    assert [(i, reason.split(":")[0]) for i, reason in timeline.rejected] == [
        (2, "stale_rule_version"),
        (3, "unknown_rule"),
        (5, "stale_rule_version"),
    ]


def test_republishing_the_same_rule_changes_nothing():
    events = [event("a", "add_to_cart", T0)]
    changes = [put(ABSENCE, T0 + MINUTE)]
    assert fired(evaluate_rules([rule(ABSENCE)], events, changes=changes)) == ["cart@1:15"]
    assert rule_timeline([rule(ABSENCE)], changes).rejected == ()


def test_publish_rules_sends_each_rule_of_the_files_as_the_job_reads_it(capsys):
    from pathlib import Path

    from journey_triggers import cli
    from journey_triggers.rules.ir import lower
    from journey_triggers.rules.loader import load_rules

    pack = Path(__file__).resolve().parents[2] / "rules"
    assert cli.main(["publish-rules", str(pack), "--disable", "x", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    published = [parse_rule_change(line, published_ms=7) for line in lines]
    rules = [item.rule for item in load_rules([pack])]
    # The same rules: a store list's path is made absolute, and its stores are the same.
    assert [lower(c.rule).to_json() for c in published[:-1] if c.rule] == [
        lower(rule).to_json() for rule in rules
    ]
    assert published[-1] == RuleChange("disable", "x", 7)
    assert {c.effective_ms for c in published} == {7}  # no --effective-from: when published


def test_publish_rules_publishes_nothing_when_a_change_is_invalid(tmp_path, capsys):
    from journey_triggers import cli

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: a\n    version: 1\n")
    assert cli.main(["publish-rules", str(rules), "--dry-run"]) == 1
    assert f"{rules}:3" in capsys.readouterr().err
    assert cli.main(["publish-rules", "--dry-run"]) == 1
    assert "nothing to publish" in capsys.readouterr().err
    assert (
        cli.main(["publish-rules", "--remove", "a", "--effective-from", "soon", "--dry-run"]) == 1
    )
    assert "effective_from must be" in capsys.readouterr().err
