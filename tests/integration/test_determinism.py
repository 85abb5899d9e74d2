"""Same input, same decisions: at parallelism 1, 2 and 4, with late and out-of-order data."""

from __future__ import annotations

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import run_on_file

# A soak variant: test_kafka_determinism holds parallelism 1 and 2 equal, with late data, in CI.
pytestmark = [pytest.mark.integration, pytest.mark.soak]


def test_parallelism_1_2_and_4_give_identical_decisions_with_late_data(tmp_path):
    # 30s of arrival disorder against a 10s bound: some events are late, deterministically.
    lines = [line for _, line in generate(GeneratorConfig(customers=300, disorder_ms=30_000))]
    config = JobConfig(out_of_orderness_ms=10_000)

    runs = {
        p: run_on_file(
            lines, tmp_path, JobConfig(out_of_orderness_ms=10_000, parallelism=p), f"p{p}"
        )
        for p in (1, 2, 4)
    }

    valid = [e for line in lines if isinstance(e := parse_event(line), Event)]
    split = split_late(valid, config.out_of_orderness_ms)
    expected = sorted(
        (d.to_record() for d in evaluate_rules([cart_abandonment()], split.on_time)),
        key=lambda d: d["decision_id"],
    )
    assert split.late, "the input must contain late events for this test to mean anything"
    assert len(expected) > 50
    for parallelism, out in runs.items():
        got = sorted(out["decisions"], key=lambda d: d["decision_id"])
        assert got == expected, f"parallelism {parallelism} differs from the reference"
        late_ids = sorted(r["event_id"] for r in out["late_events"])
        assert late_ids == sorted(e.event_id for e in split.late)
