"""Rules change live: add, edit, disable, enable and remove on the rules control topic.

A live job (Kafka in and out, parallelism 2) starts with three rules. While a cart is pending
in one of them and a count of another is half way, changes arrive on the rules topic: the count
rule gets version 2 (a new threshold), a rule is added, the click rule is disabled and
enabled again, the count rule is later removed; and three bad changes (an invalid rule, a stale
version, an unknown rule) become dead letters with their reasons. The job never restarts. The
pending cart of the unchanged rule fires once; every decision, with its rule version, equals
the reference's timeline (``semantics.rule_changes``). A bounded replay of both topics then
makes the same decisions and dead letters.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.changes import parse_rule_change
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from journey_triggers.semantics.rule_changes import rule_timeline
from tests.hostile import hostile_policies, rule_change
from tests.integration.conftest import (
    LIVE_T0,
    assert_same_decisions,
    kafka_sink,
    live_job,
    run_pipeline,
)
from tests.integration.test_rule_changes import ABANDONED, LOGIN, _event, _views
from tests.integration.test_untrusted_streams import _same, _text
from udfs.rule_changes import rule_change_row

pytestmark = pytest.mark.integration

MINUTE = 60_000
CLICKED = {
    "id": "clicked",
    "version": 1,
    "description": "Every email click.",
    "trigger": {"kind": "event", "on": {"event": "email_click"}},
    "output": {"action": "suggest", "channels": ["push"]},
}


def _change(op: str, minute: int, **body: object) -> tuple[str, str]:
    message = {"op": op, "effective_from": LIVE_T0 + minute * MINUTE, **body}
    rule = body.get("rule")
    key = str(rule["id"] if isinstance(rule, dict) else body.get("rule_id"))
    return key, json.dumps(message)


def _rule_data(rule: Rule) -> dict[str, object]:
    return rule.model_dump(mode="json", exclude_none=True)


def _produce_then_move_event_time(
    bootstrap: str, records: list[tuple[str, str]], minute: int
) -> None:
    """Send ``records``, then move event time to ``minute`` on both partitions of the events
    topic (a page view of a bystander on each)."""
    produce(bootstrap, "lr.events", records)
    clocks = [_event("c8", "page_view", minute), _event("c9", "page_view", minute)]
    produce(bootstrap, "lr.events", clocks, partition_of=lambda index, _key: index)


def test_rules_change_live_with_state_kept_for_unchanged_rules(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    topics = {"lr.events": 2, "lr.rules": 1}
    topics |= {f"lr.{name}": 1 for name in ("decisions", "dlq", "late", "erasures")}
    broker.create_topics(bootstrap, topics)
    start_rules = (ABANDONED, _views(2, 1), Rule.model_validate(CLICKED))
    config = JobConfig(
        parallelism=2,
        rules=start_rules,
        out_of_orderness_ms=1_000,
        checkpoint_interval_ms=1_000,
        # No partition goes idle: both get every clock, and a partition marked idle while the
        # test waits would let the other's clock pass records not read yet (they would be late).
        idle_timeout_ms=0,
        rules_topic=KafkaSourceSpec(bootstrap_servers=bootstrap, topic="lr.rules"),
    )
    before = [
        _event("c1", "add_to_cart", 0),  # pending 30 minutes, across every change
        _event("c3", "product_view", 1),  # views v1 half way: dropped with version 1
        _event("c5", "email_click", 2),  # clicked fires
    ]
    changes = [
        _change("put", 10, rule=_rule_data(_views(3, 2))),
        _change("put", 10, rule=_rule_data(LOGIN)),
        _change("disable", 20, rule_id="clicked"),
        _change("enable", 30, rule_id="clicked"),
        _change("remove", 50, rule_id="views"),
        # Dead letters: an invalid rule, a changed rule without a new version, an unknown id.
        _change("put", 10, rule={"id": "broken", "version": 1}),
        _change("put", 10, rule=_rule_data(_views(4, 2))),
        _change("disable", 10, rule_id="no_such_rule"),
    ]
    after = [
        _event("c3", "product_view", 11),  # views v2: 1 (v1 would have fired here)
        _event("c3", "product_view", 12),  # 2
        _event("c3", "product_view", 13),  # 3: views v2 fires
        _event("c4", "login", 15),  # the added rule fires
        _event("c5", "email_click", 25),  # disabled: nothing
        _event("c5", "email_click", 35),  # enabled again: fires
        _event("c6", "product_view", 51),  # views removed: nothing
        _event("c6", "product_view", 52),
        _event("c6", "product_view", 53),
    ]
    with live_job(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="lr.events"),
        kafka_sink(bootstrap, "lr"),
        config,
    ):
        _produce_then_move_event_time(bootstrap, before, 5)
        first = consume_json(bootstrap, "lr.decisions", expected=1, max_wait_s=90)
        assert [d["rule_id"] for d in first] == ["clicked"]
        produce(bootstrap, "lr.rules", changes)
        # The engine reports the bad changes after the good ones before them: once all three
        # dead letters are out, every change is in force.
        dead = consume_json(bootstrap, "lr.dlq", expected=3, max_wait_s=90)
        _produce_then_move_event_time(bootstrap, after, 60)
        decisions = consume_json(bootstrap, "lr.decisions", expected=5, max_wait_s=90)
        decisions = consume_json(bootstrap, "lr.decisions", idle_timeout_s=5, max_wait_s=30)

    print(
        "DEBUG decisions", [(d["rule_id"], d["explanation"]["anchor_event_id"]) for d in decisions]
    )
    reasons = sorted(d["reason"].split(":")[0] for d in dead)
    assert reasons == ["invalid_rule_change", "stale_rule_version", "unknown_rule"], dead
    assert {d["source_offset"] for d in dead} == {5, 6, 7}

    events = [e for _, line in [*before, *after] if isinstance(e := parse_event(line), Event)]
    parsed = [parse_rule_change(text, published_ms=0) for _, text in changes[:5]]
    expected = [d.to_record() for d in evaluate_rules(start_rules, events, changes=parsed)]
    assert_same_decisions(decisions, expected)
    fired = sorted(
        (d["rule_id"], d["rule_version"], d["explanation"]["anchor_event_id"]) for d in decisions
    )
    # The replay: both topics read bounded; every change applies at its effective time.
    topics = {f"lr2.{name}": 1 for name in ("decisions", "dlq", "late", "erasures")}
    broker.create_topics(bootstrap, topics)
    assert config.rules_topic is not None
    replayed = replace(
        config,
        rules_topic=replace(config.rules_topic, bounded=True),
        checkpoint_dir=(tmp_path / "replay-checkpoints").as_uri(),
    )
    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="lr.events", bounded=True),
        kafka_sink(bootstrap, "lr2"),
        replayed,
    )
    again = consume_json(bootstrap, "lr2.decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(again, expected)
    dead_again = consume_json(bootstrap, "lr2.dlq", expected=3, max_wait_s=30)
    assert sorted(d["source_offset"] for d in dead_again) == [5, 6, 7]
    assert fired == [
        ("abandoned", 1, "c1-add_to_cart-0"),
        ("clicked", 1, "c5-email_click-2"),
        ("clicked", 1, "c5-email_click-35"),
        ("login_seen", 1, "c4-login-15"),
        ("views", 2, "c3-product_view-13"),
    ]


def test_hostile_rules_messages_are_dead_lettered_and_the_rest_applied(
    local_broker, no_leftover_processes, tmp_path
):
    """2,000 hostile messages on the rules topic of a bounded Kafka run: the job does not fail,
    each bad message is one dead letter with the reference's reason, and the decisions are the
    reference's under the changes it accepted."""
    bootstrap = local_broker.bootstrap_servers
    topics = {"h.events": 1, "h.rules": 1}
    topics |= {f"h.{name}": 1 for name in ("decisions", "dlq", "late", "erasures")}
    broker.create_topics(bootstrap, topics)
    base = tuple(Rule.model_validate(json.loads(rule_change(4 * i))["rule"]) for i in range(7))
    records = list(generate(GeneratorConfig(customers=30, seed=12)))
    produce(bootstrap, "h.events", records)
    messages = hostile_policies(2_000, 6, rule_change)
    produce(bootstrap, "h.rules", [(None, _text(message)) for message in messages])

    config = JobConfig(
        parallelism=2,
        rules=base,
        rules_topic=KafkaSourceSpec(bootstrap_servers=bootstrap, topic="h.rules", bounded=True),
    )
    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="h.events", bounded=True),
        kafka_sink(bootstrap, "h"),
        config,
    )

    changes, offsets, reasons = [], [], {}
    for offset, message in enumerate(messages):
        change, _, reason = rule_change_row(_text(message), 0, start_rules=base)
        if reason is None:
            assert change is not None
            changes.append(parse_rule_change(_text(message), 0))
            offsets.append(offset)
        else:
            reasons[offset] = reason
    timeline = rule_timeline(base, changes)
    reasons |= {offsets[index]: reason for index, reason in timeline.rejected}
    valid = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, config.out_of_orderness_ms).on_time
    expected = [d.to_record() for d in evaluate_rules(base, on_time, changes=changes)]
    assert expected and len(reasons) > 1_000

    decisions = consume_json(bootstrap, "h.decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(decisions, expected)
    dead = consume_json(bootstrap, "h.dlq", expected=len(reasons), max_wait_s=60)
    got = {d["source_offset"]: d["reason"] for d in dead if d["source"] == "h.rules"}
    assert got == {offset: _same(reason) for offset, reason in reasons.items()}
