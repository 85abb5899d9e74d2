from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from journey_triggers.events import EVENT_TYPES, Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.semantics.evaluator import evaluate_rules

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def load(name):
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_event_schema_lists_exactly_the_jobs_event_types():
    schema = json.loads((SCHEMAS / "customer_event.v1.json").read_text())
    assert schema["properties"]["event_type"]["enum"] == list(EVENT_TYPES)


def test_generated_events_conform_to_event_schema():
    validator = load("customer_event.v1.json")
    for _, line in generate(GeneratorConfig(customers=40)):
        validator.validate(json.loads(line))


@pytest.mark.parametrize(
    "record",
    [
        {"event_type": "page_view", "customer_id": "c", "ts": 1},
        {"event_id": "e", "event_type": "page_view", "ts": 1},
        {"event_id": "e", "event_type": "teleport", "customer_id": "c", "ts": 1},
        {"event_id": "e", "event_type": "page_view", "customer_id": "c", "ts": "yesterday"},
        {"event_id": "e", "event_type": "page_view", "customer_id": "c", "ts": -1},
        {"event_id": "e", "event_type": "email_bounced", "customer_id": "c", "ts": 1},
        {
            "event_id": "e",
            "event_type": "push_failed",
            "customer_id": "c",
            "ts": 1,
            "properties": {"decision_id": ""},
        },
        {
            "event_id": "e",
            "event_type": "add_to_cart",
            "customer_id": "c",
            "ts": 1,
            "properties": {"cart": [{"product_id": "p1"}, {"sku": "p2"}]},
        },
    ],
)
def test_event_schema_rejects_what_the_job_dead_letters(record):
    validator = load("customer_event.v1.json")
    assert not validator.is_valid(record)
    assert not isinstance(parse_event(json.dumps(record)), Event)


def test_reference_decisions_conform_to_decision_schema():
    validator = load("decision.v1.json")
    lines = [line for _, line in generate(GeneratorConfig(customers=40))]
    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    decisions = evaluate_rules([cart_abandonment()], events)
    assert decisions
    for decision in decisions:
        validator.validate(decision.to_record())


def test_policy_decisions_and_erasures_conform_to_their_schemas():
    from journey_triggers.policy import PolicyBook, parse_policy_text
    from journey_triggers.semantics.evaluator import policy_entries
    from journey_triggers.semantics.policy import apply_policy

    decisions_schema = load("decision.v1.json")
    erasure_schema = load("erasure.v1.json")
    lines = [line for _, line in generate(GeneratorConfig(customers=60))]
    events = [e for line in lines if isinstance(e := parse_event(line), Event)]
    rules = [cart_abandonment()]
    entries = policy_entries(rules, evaluate_rules(rules, events), events)
    entries.append((events[0].customer_key, {"kind": "erasure", "at": events[-1].ts_ms, "id": "x"}))
    book = PolicyBook(
        (
            parse_policy_text(
                'version: 2\nquiet_hours: {start: "20:00", end: "09:00"}\n'
                "caps: [{max: 1, per: calendar_day}]\n",
                source="test",
            ),
        )
    )
    outputs = apply_policy(book, entries)
    assert {o.get("status") for o in outputs} >= {"send", "suppressed", "deferred", None}
    for output in outputs:
        if output["type"] == "erasure":
            erasure_schema.validate(output)
        else:
            decisions_schema.validate(output)
