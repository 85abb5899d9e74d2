"""Property test: on random small histories, the Flink job and the reference agree exactly.

Each example is 60 to 120 lines: events of a handful of customers (known, anonymous and
device-only, with logins that stitch them) at random times within a few hours, mixed with
junk (random JSON, random text, event-shaped records with random values). The job runs every
trigger kind over them (the identity and profile rule files). Its dead letters, late events and
decisions must equal the reference's, and every line must be accounted for.

Examples are derandomized, so CI runs the same histories every time; a failure prints the
example that broke.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_triggers.config import JobConfig
from journey_triggers.events import EVENT_TYPES, Event, Rejection, parse_event
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.integration.conftest import assert_same_decisions, run_on_file
from tests.unit.test_fuzz import event_like, json_values

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
RULES = tuple(
    item.rule for item in load_rules([DATA / "identity_rules.yaml", DATA / "profile_rules.yaml"])
)
BASE = 1_800_000_000_000
HOUR = 3_600_000
OUT_OF_ORDERNESS_MS = 2 * HOUR


@st.composite
def history_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of a few customers and devices, within six hours."""
    record: dict[str, Any] = {
        "event_id": f"e{draw(st.integers(0, 10**6))}",
        "event_type": draw(st.sampled_from(EVENT_TYPES)),
        "ts": BASE + draw(st.integers(0, 6 * HOUR)),
    }
    who = draw(st.sampled_from(["customer", "anonymous", "device", "login"]))
    customer = draw(st.sampled_from(["c1", "c2", "c3"]))
    device = draw(st.sampled_from(["d1", "d2"]))
    if who in ("customer", "login"):
        record["customer_id"] = customer
    if who in ("anonymous", "login"):
        record["anonymous_id"] = f"a-{device}"
    if who == "device":
        record["device_id"] = device
    if who == "login":
        record["event_type"] = "login"
    properties: dict[str, Any] = {
        "product_id": draw(st.sampled_from(["p1", "p2"])),
        "cart_value": draw(st.integers(0, 300)),
    }
    if record["event_type"] in ("email_bounced", "push_failed", "sms_failed"):
        properties["decision_id"] = "d"
    record["properties"] = properties
    record["device_type"] = draw(st.sampled_from(["mobile", "desktop"]))
    return record


# A line of the input file: any text without a line feed (the file source splits at it).
one_line = st.text(max_size=30).filter(lambda text: text != "" and "\n" not in text)
lines_strategy = st.lists(
    st.one_of(
        history_event().map(json.dumps),
        history_event().map(json.dumps),
        history_event().map(json.dumps),
        event_like().map(json.dumps),
        json_values.map(json.dumps),
        one_line,
    ),
    min_size=60,
    max_size=120,
)


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=lines_strategy)
def test_random_histories_decide_as_the_reference(lines, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    config = JobConfig(parallelism=2, out_of_orderness_ms=OUT_OF_ORDERNESS_MS, rules=RULES)
    out = run_on_file(lines, tmp_path, config)

    parsed = [parse_event(line) for line in lines]
    rejected = sorted((p.reason, p.raw) for p in parsed if isinstance(p, Rejection))
    assert sorted((d["reason"], d["raw"] or "") for d in out["dead_letters"]) == rejected
    split = split_late([p for p in parsed if isinstance(p, Event)], OUT_OF_ORDERNESS_MS)
    assert sorted(d["event_id"] for d in out["late_events"]) == sorted(
        e.event_id for e in split.late
    )
    assert len(rejected) + len(split.late) + len(split.on_time) == len(lines)
    expected = [d.to_record() for d in evaluate_rules(RULES, split.on_time)]
    assert_same_decisions(out["decisions"], expected)
