"""The unified profile on the minicluster: snapshots and profile rules equal the reference.

The job computes the profile in one OVER aggregate per customer (``jobs/sql.py``); the reference
is ``journey_triggers.semantics.profile``. Generated traffic has cross-device customers, consent
updates, carts and purchases, so every field takes real values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.erasure import customer_of, with_epochs
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.identity import resolve_identities
from journey_triggers.semantics.lateness import split_late
from journey_triggers.semantics.profile import PROFILE_FIELDS, with_profiles
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

RULES = tuple(
    item.rule for item in load_rules([Path(__file__).parent / "data" / "profile_rules.yaml"])
)


def traffic() -> list[str]:
    config = GeneratorConfig(customers=500, seed=13, disorder_ms=15_000, horizon_ms=4 * 86_400_000)
    return [line for _, line in generate(config)]


def test_profile_snapshots_and_profile_rules_equal_reference_at_parallelism_2(tmp_path):
    lines = traffic()
    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    profiled = with_profiles(with_epochs(resolve_identities(on_time)))
    # Every field takes a real value somewhere, and consent takes both values.
    for name in PROFILE_FIELDS:
        values = {json.dumps(e.profile[name]) for e in profiled if e.profile}
        assert len(values - {"null", "0", "0.0"}) >= 2, (name, values)
    assert {e.profile["consent_sms"] for e in profiled if e.profile} == {None, True, False}

    expected = [d.to_record() for d in evaluate_rules(RULES, on_time)]
    fired = {d["rule_id"] for d in expected}
    assert fired == {r.id for r in RULES}, [r.id for r in RULES if r.id not in fired]

    config = JobConfig(
        parallelism=2, out_of_orderness_ms=10_000, rules=RULES, profile_snapshots=True
    )
    out = run_on_file(lines, tmp_path, config)
    assert_same_decisions(out["decisions"], expected)

    snapshots = {
        (s["event_id"], s["customer_id"]): json.loads(s["profile"]) for s in out["profiles"]
    }
    reference = {(e.event_id, customer_of(e.customer_key)): e.profile for e in profiled}
    assert len(out["profiles"]) == len(profiled)
    differing = [key for key, profile in reference.items() if snapshots.get(key) != profile]
    assert not differing, (
        differing[:3],
        [reference[k] for k in differing[:1]],
        [snapshots.get(k) for k in differing[:1]],
    )
