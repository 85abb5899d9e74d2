"""The whole standard pack, together, on a minicluster: decisions equal the reference."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.ir import lower
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def enabled_pack_rules():
    return [
        item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"]) if item.rule.enabled
    ]


def test_every_enabled_pack_rule_lowers_to_the_ir_and_only_the_score_rule_waits():
    pack = [item.rule for item in load_rules([ROOT / "rules" / "standard.yaml"])]
    for rule in enabled_pack_rules():
        lower(rule)
    assert [r.id for r in pack if not r.enabled] == ["high_propensity_browse"]


@pytest.mark.parametrize("parallelism", [2, 1])
def test_whole_standard_pack_equals_reference(tmp_path, parallelism):
    rules = enabled_pack_rules()
    assert len(rules) == 18, [r.id for r in rules]
    lines = [
        line
        for _, line in generate(
            GeneratorConfig(customers=1000, seed=3, disorder_ms=20_000, horizon_ms=7 * 86_400_000)
        )
    ]
    bound = 10_000
    assert len(lines) >= 20_000
    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    split = split_late(valid, bound)
    expected = [d.to_record() for d in evaluate_rules(rules, split.on_time)]
    fired = {d["rule_id"] for d in expected}
    assert fired == {r.id for r in rules}, (
        f"rules that never fired: {[r.id for r in rules if r.id not in fired]}"
    )

    config = JobConfig(parallelism=parallelism, out_of_orderness_ms=bound, rules=tuple(rules))
    started = time.monotonic()
    out = run_on_file(lines, tmp_path, config, f"p{parallelism}")
    print(
        f"parallelism {parallelism}: {len(lines)} events, {len(rules)} rules, "
        f"{len(out['decisions'])} decisions in {time.monotonic() - started:.1f}s"
    )
    assert_same_decisions(out["decisions"], expected)
    assert sorted(r["event_id"] for r in out["late_events"]) == sorted(
        e.event_id for e in split.late
    )
