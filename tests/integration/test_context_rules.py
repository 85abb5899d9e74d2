"""Context conditions in every trigger kind and position, on the minicluster, equal the reference.

``session_dwell`` needs the session's first event time, which the job computes in an OVER
aggregate and carries through joins, windows and MATCH_RECOGNIZE to each anchor; these rules put
it (and local time and store distance) in rule conditions and pattern ``where`` clauses of every
kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "data" / "context_rules.yaml"


def test_context_conditions_in_every_kind_equal_reference_at_parallelism_2(tmp_path):
    rules = [item.rule for item in load_rules([RULES])]
    lines = [
        line
        for _, line in generate(
            GeneratorConfig(customers=500, seed=21, disorder_ms=5_000, horizon_ms=4 * 86_400_000)
        )
    ]
    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    expected = [d.to_record() for d in evaluate_rules(rules, split_late(valid, 10_000).on_time)]
    fired = {d["rule_id"] for d in expected}
    assert fired == {r.id for r in rules}, [r.id for r in rules if r.id not in fired]

    config = JobConfig(parallelism=2, out_of_orderness_ms=10_000, rules=tuple(rules))
    out = run_on_file(lines, tmp_path, config)
    assert_same_decisions(out["decisions"], expected)
