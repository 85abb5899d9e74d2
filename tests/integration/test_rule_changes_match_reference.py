"""Rule changes in the JVM engine decide exactly as the reference's timeline says.

Random sequences of changes (new versions, new rules, disable, enable, remove, and changes the
timeline must reject: stale versions, unknown rules, the same rule again) over generated
journeys and the standard pack; and what the parser accepts of 1,000 hostile control
messages. The engine's driver applies each change at its effective time (``RuleTimeline``);
its candidates and rejections must equal the reference's (``semantics.rule_changes`` through
``evaluate_rules(..., changes=...)``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from journey_triggers.jvm_engine import (
    CANDIDATE_FIELDS,
    prepared_events,
    run_engine_with_changes,
    write_changes,
    write_inputs,
)
from journey_triggers.rules.changes import RuleChange, RuleChangeError, parse_rule_change
from journey_triggers.rules.ir import rule_set_json
from journey_triggers.rules.loader import load_rules
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.rule_changes import rule_timeline
from tests.hostile import hostile_policies, rule_change
from tests.integration.test_engine_matches_reference import WHOLE_INPUT_MS, _assert_equal, _journeys

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _edited(rule: Rule, version: int) -> Rule:
    output = rule.output.model_copy(update={"action": f"{rule.output.action}_v{version}"})
    return rule.model_copy(update={"version": version, "output": output})


def _changes(rules: list[Rule], start: int, end: int, rng: random.Random) -> list[RuleChange]:
    """Return 12 random changes; some are meant to be rejected."""
    versions = {rule.id: rule.version for rule in rules}
    by_id = {rule.id: rule for rule in rules}
    changes: list[RuleChange] = []
    for _ in range(12):
        at = rng.randrange(start, end)
        rule_id = rng.choice(sorted(versions))
        kind = rng.choice(["edit", "edit", "copy", "disable", "enable", "remove", "stale", "same"])
        if kind == "edit":
            versions[rule_id] += 1
            by_id[rule_id] = _edited(by_id[rule_id], versions[rule_id])
            changes.append(RuleChange("put", rule_id, at, by_id[rule_id]))
        elif kind == "copy":
            copy = by_id[rule_id].model_copy(update={"id": f"{rule_id}_copy{len(changes)}"})
            changes.append(RuleChange("put", copy.id, at, copy))
        elif kind == "stale":
            older = _edited(by_id[rule_id], versions[rule_id]).model_copy(
                update={"description": "changed without a new version"}
            )
            changes.append(RuleChange("put", rule_id, at, older))
        elif kind == "same":
            changes.append(RuleChange("put", rule_id, at, by_id[rule_id]))
        else:
            target = rule_id if rng.random() < 0.85 else "no_such_rule"
            changes.append(RuleChange(kind, target, at))
    return changes


@pytest.mark.parametrize("seed", [3, 11, 19, 29, 41, 57])
def test_random_rule_changes_over_generated_journeys(seed, tmp_path):
    rules = [item.rule for item in load_rules([ROOT / "rules"])]
    events = _journeys(seed, customers=120)
    times = sorted(event.ts_ms for event in events)
    rng = random.Random(seed)
    changes = _changes(rules, times[len(times) // 10], times[-len(times) // 10], rng)

    decisions = evaluate_rules(rules, events, changes=changes)
    expected = [{name: d.to_record()[name] for name in CANDIDATE_FIELDS} for d in decisions]
    timeline = rule_timeline(rules, changes)
    assert timeline.rejected, "the changes must include rejected ones"
    assert len({(a.rule.id, a.rule.version) for a in timeline.activations}) > len(rules)

    # The IR keeps the pack's disabled rule: a change may enable it.
    rules_path = tmp_path / "rules-ir.json"
    rules_path.write_text(rule_set_json(rules) + "\n")
    every = [*rules, *(c.rule for c in changes if c.rule is not None)]
    lines = prepared_events(every, events)
    rng.shuffle(lines)
    events_path = tmp_path / "events.jsonl"
    events_path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    got, rejected = run_engine_with_changes(
        rules_path,
        events_path,
        write_changes(tmp_path, changes),
        out_of_orderness_ms=WHOLE_INPUT_MS,
    )
    _assert_equal(got, expected)
    assert rejected == list(timeline.rejected)
    # The changes made a difference: decisions of new versions and of copies, and fewer of some.
    unchanged = evaluate_rules(rules, events)
    assert {d.decision_id for d in decisions} != {d.decision_id for d in unchanged}
    assert any(c["rule_version"] > 1 for c in got)


def test_the_accepted_changes_of_hostile_messages_decide_as_the_reference(tmp_path):
    """1,000 hostile control messages: what the parser accepts, the engine applies as the
    reference does (rejections included), and nothing fails the engine."""
    base = [
        Rule.model_validate(json.loads(rule_change(4 * i))["rule"]) for i in range(7)
    ]  # r0..r6, version 1 + 4i
    texts = [
        record.decode("utf-8", errors="replace")
        for record in hostile_policies(1_000, 5, rule_change)
    ]
    changes = []
    for text in texts:
        try:
            changes.append(parse_rule_change(text, published_ms=0))
        except RuleChangeError:
            continue
    assert len(changes) > 100
    events = _journeys(9, customers=30)
    decisions = evaluate_rules(base, events, changes=changes)
    expected = [{name: d.to_record()[name] for name in CANDIDATE_FIELDS} for d in decisions]
    timeline = rule_timeline(base, changes)
    assert timeline.rejected and expected

    paths = write_inputs(tmp_path, base, events)
    got, rejected = run_engine_with_changes(
        *paths, write_changes(tmp_path, changes), out_of_orderness_ms=WHOLE_INPUT_MS
    )
    _assert_equal(got, expected)
    assert rejected == list(timeline.rejected)
