"""The JVM rule engine decides exactly as the reference evaluator, whatever the arrival order.

The engine (``journeytriggers.engine``, run by its command-line driver through
``journey_triggers.jvm_engine``) reads each rule set as IR and the prepared events; its
candidates must equal the reference's decisions field for field (ids, times, payloads,
explanations). Inputs: generated journeys over the standard pack and every rule file of the
integration tests, with the events shuffled (a large out-of-orderness bound) or arriving with
bounded disorder (a bound just large enough); the condition corpus of
``test_conditions_match_reference.py``; and random small histories with ties.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.jvm_engine import reference_candidates, run_engine, write_inputs
from journey_triggers.rules.loader import load_rules
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.lateness import split_late
from tests.integration.test_conditions_match_reference import CONDITIONS, VALUES
from tests.integration.test_fuzz_job import lines_strategy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
RULE_FILES = {
    "pack": [ROOT / "rules"],
    "options": [DATA / "engine_rules.yaml"],
    "profile+context": [DATA / "profile_rules.yaml", DATA / "context_rules.yaml"],
    "identity": [DATA / "identity_rules.yaml"],
}
IDENTITY_WINDOW_MS = 30 * 60_000
WHOLE_INPUT_MS = 2**62
"""An out-of-orderness bound beyond any event time: the driver buffers the whole input (random
histories carry times up to 10^15 ms, so a bound of a few centuries would make events late)."""


def _journeys(seed: int, customers: int) -> list[Event]:
    config = GeneratorConfig(customers=customers, seed=seed)
    events = []
    for _, line in generate(config):
        parsed = parse_event(line)
        if isinstance(parsed, Event):
            events.append(parsed)
    return events


def _assert_equal(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    def key(candidate: dict[str, Any]) -> str:
        return json.dumps(candidate, sort_keys=True)

    missing = sorted(set(map(key, expected)) - set(map(key, got)))
    unexpected = sorted(set(map(key, got)) - set(map(key, expected)))
    assert (missing[:3], unexpected[:3]) == ([], []), (len(missing), len(unexpected))
    assert sorted(map(key, got)) == sorted(map(key, expected)), "duplicates differ"


@pytest.mark.parametrize("rule_set", sorted(RULE_FILES))
@pytest.mark.parametrize("seed", [7, 23])
def test_generated_journeys_in_any_arrival_order(rule_set, seed, tmp_path):
    rules = [item.rule for item in load_rules(RULE_FILES[rule_set])]
    events = _journeys(seed, customers=150)
    window = IDENTITY_WINDOW_MS if rule_set == "identity" else 0
    expected = reference_candidates(rules, events, identity_window_ms=window)
    assert len(expected) > 50, "the journeys must exercise the rules"
    paths = write_inputs(tmp_path, rules, events, identity_window_ms=window, shuffle_seed=seed)
    got = run_engine(*paths, out_of_orderness_ms=WHOLE_INPUT_MS)
    _assert_equal(got, expected)
    assert {c["rule_id"] for c in got} == {c["rule_id"] for c in expected}


def test_bounded_disorder_with_a_bound_that_covers_it(tmp_path):
    """Arrival order = event time plus up to 90 s of jitter; the bound is 90 s."""
    rules = [item.rule for item in load_rules([ROOT / "rules", DATA / "engine_rules.yaml"])]
    events = _journeys(5, customers=150)
    rng = random.Random(5)
    arrival = sorted(events, key=lambda e: e.ts_ms + rng.randrange(90_000))
    expected = reference_candidates(rules, events)
    rules_path, events_path = write_inputs(tmp_path, rules, arrival)
    assert run_engine(rules_path, events_path, out_of_orderness_ms=90_000) != []
    _assert_equal(run_engine(rules_path, events_path, out_of_orderness_ms=90_000), expected)


def test_condition_corpus(tmp_path):
    """Every condition of the corpus, as an event rule, over every odd value of the corpus."""
    rules = [
        Rule.model_validate(
            {
                "id": f"c{i}",
                "version": 1,
                "description": f"corpus condition {i}",
                "trigger": {"kind": "event", "on": {"event": "page_view"}},
                "conditions": condition,
                "output": {"action": "a", "channels": ["email"], "payload": {"v": "properties.v"}},
            }
        )
        for i, condition in enumerate(CONDITIONS)
    ]
    events = []
    for i, value in enumerate(VALUES):
        for w in ("x", "y", None):
            record: dict[str, Any] = {
                "event_id": f"e{i}-{w}",
                "event_type": "page_view",
                "customer_id": f"c{i % 3}",
                "ts": 1_800_000_000_000 + i,
                "device_type": "mobile" if i % 2 else "desktop",
                "properties": {"v": value} if w is None else {"v": value, "w": w},
            }
            parsed = parse_event(json.dumps(record, ensure_ascii=False))
            assert isinstance(parsed, Event)
            events.append(parsed)
    expected = reference_candidates(rules, events)
    paths = write_inputs(tmp_path, rules, events, shuffle_seed=1)
    _assert_equal(run_engine(*paths, out_of_orderness_ms=WHOLE_INPUT_MS), expected)


HISTORY_RULES = tuple(
    item.rule
    for item in load_rules(
        [DATA / "identity_rules.yaml", DATA / "profile_rules.yaml", DATA / "engine_rules.yaml"]
    )
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=lines_strategy)
def test_random_histories_with_ties(lines, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("engine-fuzz")
    parsed = [parse_event(line) for line in lines]
    on_time = split_late([p for p in parsed if isinstance(p, Event)], 2 * 3_600_000).on_time
    expected = reference_candidates(HISTORY_RULES, on_time)
    paths = write_inputs(tmp_path, HISTORY_RULES, on_time, shuffle_seed=len(lines))
    _assert_equal(run_engine(*paths, out_of_orderness_ms=WHOLE_INPUT_MS), expected)
