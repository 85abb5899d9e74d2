"""Untrusted input: 10,000 hostile records for each parser the job runs on a stream.

The events' reference parser, the catalog parser and the policy and rules control parsers take
records from ``tests.hostile`` (nesting near and past the limit, huge strings, invalid UTF-8,
duplicate keys, numbers out of range, truncation, random bytes, aliases). None may raise: each
record is accepted or refused with a reason, and every kind of outcome occurs. The job's own
SQL ingest is held to the reference on the same records in
``tests/integration/test_untrusted_streams.py``.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from jobs.policy_stage import REJECT_INVALID_CONTROL, control_policy
from journey_triggers import events as ev
from journey_triggers.catalog import parse_catalog_record
from journey_triggers.events import Event, Rejection, load_json, parse_event
from journey_triggers.policy import PolicyBook, parse_policy_text
from journey_triggers.rules.changes import REJECT_INVALID_RULE_CHANGE
from journey_triggers.yaml_limits import MAX_YAML_DEPTH, yaml_shape_problem
from tests.hostile import hostile_catalog, hostile_events, hostile_policies, rule_change
from udfs.rule_changes import rule_change_row

RECORDS = 10_000
REASONS = {value for name, value in vars(ev).items() if name.startswith("REJECT_")}


def _text(record: bytes) -> str:
    return record.decode("utf-8", errors="replace")  # as the job's raw format reads bytes


def test_ten_thousand_hostile_events_are_each_an_event_or_a_reasoned_rejection():
    records = hostile_events(RECORDS, seed=1, base_ts_ms=1_798_761_600_000)
    outcomes: Counter[str] = Counter()
    for record in records:
        parsed = parse_event(_text(record))
        assert isinstance(parsed, Event | Rejection)
        outcomes[parsed.reason if isinstance(parsed, Rejection) else "event"] += 1
    assert sum(outcomes.values()) == RECORDS
    assert set(outcomes) - {"event"} <= REASONS
    assert outcomes["event"] > RECORDS // 3
    for reason in ("not_a_json_object", "oversized_record", "unknown_event_type", "invalid_ts"):
        assert outcomes[reason] > 0, (reason, outcomes)


def test_nesting_past_the_limit_is_refused_at_any_depth_never_a_recursion_error():
    for depth in (1_001, 5_000, 100_000):
        for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth):
            parsed = parse_event(text)
            assert isinstance(parsed, Rejection) and parsed.reason == "not_a_json_object"
            assert parse_catalog_record(text) is None
    assert load_json("[" * 1_000 + "]" * 1_000) is not None


def test_ten_thousand_hostile_catalog_records_are_each_an_entry_or_refused():
    records = hostile_catalog(RECORDS, seed=2)
    entries = [parse_catalog_record(_text(record)) for record in records]
    accepted = [entry for entry in entries if entry is not None]
    assert RECORDS // 10 < len(accepted) < RECORDS - RECORDS // 10
    assert all(isinstance(entry.product_id, str) and entry.product_id for entry in accepted)
    prices = [entry.price for entry in accepted if entry.price is not None]
    assert prices and all(math.isfinite(price) for price in prices)


def _policy(index: int) -> str:
    return json.dumps({"version": index + 2, "caps": [{"max": 3, "per": "24h"}]})


def test_ten_thousand_hostile_policy_control_messages_are_each_applied_or_dead_lettered():
    book = PolicyBook((parse_policy_text("version: 1", source="file"),))
    records = hostile_policies(RECORDS, seed=3, valid=_policy)
    outcomes: Counter[str] = Counter()
    for record in records:
        kept, reason = control_policy(book, _text(record), 0, "control message")
        if reason is None:
            assert kept.versions[-1].version > 1
            outcomes["applied"] += 1
        else:
            assert kept is book
            assert reason.startswith(REJECT_INVALID_CONTROL), reason
            outcomes[reason.split(": ", 2)[2].split(" ")[0]] += 1
    assert outcomes["applied"] > RECORDS // 10
    assert outcomes["nested"] > 0 and outcomes["more"] > 0, outcomes  # depth, aliases


def test_ten_thousand_hostile_rule_change_messages_are_each_a_change_or_dead_lettered():
    records = hostile_policies(RECORDS, seed=4, valid=rule_change)
    outcomes: Counter[str] = Counter()
    for record in records:
        change, effective, reason = rule_change_row(_text(record), 0)
        if reason is None:
            assert change is not None and effective is not None
            outcomes[json.loads(change)["op"]] += 1
        else:
            assert change is None and effective is None
            assert reason.startswith(f"{REJECT_INVALID_RULE_CHANGE}: "), reason
            outcomes[reason.split(": ", 1)[1].split(" ")[0]] += 1
    assert sum(outcomes.values()) == RECORDS
    assert all(outcomes[op] > RECORDS // 40 for op in ("put", "disable", "enable", "remove"))
    # Nesting past the limit, aliases, truncated and random documents are all refused.
    assert outcomes["the"] > 0 and outcomes["not"] > 0, outcomes


def test_yaml_shape_limits_name_the_problem():
    assert yaml_shape_problem("a: [1, 2]") is None
    deep = "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1)
    assert yaml_shape_problem(deep) == f"nested more than {MAX_YAML_DEPTH} levels deep"
    laughs = "a: &a [x, x]\n" + "".join(f"b{i}: [*a, *a]\n" for i in range(60))
    assert yaml_shape_problem(laughs) == "more than 100 aliases"
    assert yaml_shape_problem("a: [unclosed") is None  # the loader reports syntax, with lines
