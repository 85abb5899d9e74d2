from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import TypeAdapter

from journey_triggers.events import Event
from journey_triggers.rules.model import Condition
from journey_triggers.semantics.conditions import UnsupportedConditionError, evaluate

CONDITION = TypeAdapter(Condition)


def holds(condition, **properties):
    record = {"event_id": "e", "device_type": "mobile", "properties": properties}
    event = Event(event_id="e", event_type="page_view", customer_key="c", ts_ms=0, record=record)
    return evaluate(CONDITION.validate_python(condition), event)


def test_number_operand_compares_numerically_with_numbers_and_numeric_strings():
    rule = {"field": "properties.cart_value", "op": ">", "value": 100}
    assert holds(rule, cart_value=100.5)
    assert holds(rule, cart_value="150")
    assert not holds(rule, cart_value="150 EUR")
    assert not holds(rule, cart_value=True)


def test_string_operand_matches_only_strings():
    rule = {"field": "properties.code", "op": "=", "value": "100"}
    assert holds(rule, code="100")
    assert not holds(rule, code=100)


def test_comparisons_on_missing_fields_are_false_even_negated_ones():
    assert not holds({"field": "properties.page", "op": "!=", "value": "/sale"})
    assert not holds({"field": "properties.page", "op": "not in", "value": ["/sale"]})
    assert holds({"not": {"field": "properties.page", "op": "exists"}})


def test_matches_needs_the_whole_string():
    rule = {"field": "properties.page", "op": "matches", "value": "/services/.*"}
    assert holds(rule, page="/services/audit")
    assert not holds(rule, page="/en/services/audit")


def test_combinators_nest():
    rule = {
        "all": [
            {"field": "device_type", "op": "=", "value": "mobile"},
            {
                "any": [
                    {"field": "properties.a", "op": "exists"},
                    {"field": "properties.b", "op": "exists"},
                ]
            },
            {"not": {"field": "properties.c", "op": "=", "value": True}},
        ]
    }
    assert holds(rule, b=1, c=False)
    assert not holds(rule, c=False)
    assert not holds(rule, a=1, c=True)


def test_profile_fields_read_the_events_profile_not_the_record():
    condition = CONDITION.validate_python({"field": "profile.orders", "op": ">=", "value": 2})
    record = {"event_id": "e", "profile": {"orders": 5}}
    base = Event(event_id="e", event_type="page_view", customer_key="c", ts_ms=0, record=record)
    assert evaluate(condition, replace(base, profile={"orders": 2}))
    assert not evaluate(condition, replace(base, profile={"orders": 1}))
    assert not evaluate(condition, replace(base, profile={"orders": None}))
    consent = CONDITION.validate_python({"field": "profile.consent_sms", "op": "=", "value": True})
    assert evaluate(consent, replace(base, profile={"consent_sms": True}))
    assert not evaluate(consent, replace(base, profile={"consent_sms": None}))


def test_profile_fields_without_a_profile_are_an_error_not_false():
    with pytest.raises(UnsupportedConditionError, match="profile"):
        holds({"field": "profile.orders", "op": ">", "value": 1})
