"""The decision policy engine (``semantics.policy``) and the policy language."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from journey_triggers.policy import PolicyBook, PolicyError, load_policy, parse_policy_text
from journey_triggers.semantics.policy import (
    CustomerPolicy,
    apply_policy,
    assign,
    fallback_id,
)

H = 3_600_000
MINUTE = 60_000
# 2027-03-10 12:00 UTC, a Wednesday; Berlin is UTC+1 then.
NOON = int(datetime(2027, 3, 10, 12, tzinfo=UTC).timestamp() * 1000)


def policy(text: str = "") -> PolicyBook:
    return PolicyBook((parse_policy_text("version: 1\n" + text, source="test"),))


def candidate(
    at: int,
    rule: str = "r",
    *,
    customer: str = "c1",
    channels: tuple[str, ...] = ("email", "sms"),
    priority: int = 50,
    payload: dict[str, str] | None = None,
    device: str = "desktop",
    channel: str = "web",
    zone: str | None = "Europe/Berlin",
    anchor_ms: int | None = None,
) -> tuple[str, dict[str, Any]]:
    record = {
        "decision_id": f"{rule}-{at}",
        "customer_id": customer,
        "rule_id": rule,
        "channels": list(channels),
        "payload": payload,
        "trigger_time_ms": at,
    }
    context = {
        "time_zone": zone,
        "device_type": device,
        "channel": channel,
        "anchor_ms": at if anchor_ms is None else anchor_ms,
        "priority": priority,
    }
    return customer, {"kind": "candidate", "at": at, "record": record, "context": context}


def event(kind: str, at: int, customer: str = "c1", **fields) -> tuple[str, dict[str, Any]]:
    return customer, {"kind": kind, "at": at, "id": f"{kind}-{at}", **fields}


def run(book: PolicyBook, entries) -> list[dict[str, Any]]:
    outputs = apply_policy(book, entries)
    return sorted(outputs, key=lambda r: (r.get("emit_time_ms", r.get("erasure_time_ms")), str(r)))


def statuses(outputs) -> list[tuple[str, str | None]]:
    return [(o["status"], o["reason"]) for o in outputs]


def test_without_settings_every_trigger_is_sent_on_its_first_channel():
    out = run(policy(), [candidate(NOON), candidate(NOON + H, "s")])
    assert statuses(out) == [("send", None), ("send", None)]
    assert [o["channel"] for o in out] == ["email", "email"]
    assert out[0]["fallback_chain"] == ["sms"]
    assert out[0]["policy_version"] == 1 and out[0]["emit_time_ms"] == NOON


def test_rolling_cap_suppresses_with_the_cap_named():
    book = policy("caps:\n  - {max: 2, per: 24h}\n")
    out = run(book, [candidate(NOON + i * H, f"r{i}") for i in range(3)])
    assert statuses(out) == [("send", None), ("send", None), ("suppressed", "frequency_cap")]
    assert out[2]["reason_detail"] == "2 per 24h"
    later = run(book, [candidate(NOON + i * H, f"r{i}") for i in (0, 1, 25)])
    assert statuses(later)[2] == ("send", None)  # the first send left the window


def test_calendar_day_cap_counts_the_customers_local_day():
    book = policy("caps:\n  - {max: 1, per: calendar_day}\n")
    new_york = "America/New_York"
    # 23:30 and 00:30 New York time: two local days, one UTC day.
    late = int(datetime(2027, 3, 10, 23, 30, tzinfo=ZoneInfo(new_york)).timestamp() * 1000)
    two_days = [candidate(late, "a", zone=new_york), candidate(late + H, "b", zone=new_york)]
    assert statuses(run(book, two_days)) == [("send", None), ("send", None)]
    # The same two instants in Berlin are one local day (05:30 and 06:30).
    one_day = [candidate(late, "a"), candidate(late + H, "b")]
    assert statuses(run(book, one_day)) == [("send", None), ("suppressed", "frequency_cap")]


def test_a_channel_cap_moves_the_message_to_the_next_channel():
    book = policy("caps:\n  - {max: 1, per: 24h, channel: email}\n")
    out = run(book, [candidate(NOON, "a"), candidate(NOON + H, "b"), candidate(NOON + 2 * H, "c")])
    assert [o["channel"] for o in out] == ["email", "sms", "sms"]
    blocked = run(book, [candidate(NOON, "a"), candidate(NOON + H, "b", channels=("email",))])
    assert statuses(blocked)[1] == ("suppressed", "frequency_cap")
    assert blocked[1]["reason_detail"] == "1 per 24h (email)"


def test_cooldown_dedupes_per_rule_and_correlation_key():
    book = policy("rules:\n  r: {correlate_on: cart_id}\n")
    carts = [
        candidate(NOON, payload={"cart_id": "k1"}),
        candidate(NOON + H, payload={"cart_id": "k1"}),
        candidate(NOON + 2 * H, payload={"cart_id": "k2"}),
        candidate(NOON + 30 * 24 * H, payload={"cart_id": "k1"}),
    ]
    assert statuses(run(book, carts)) == [
        ("send", None),
        ("suppressed", "cooldown"),
        ("send", None),
        ("suppressed", "cooldown"),  # without a cooldown length: one message per cart, ever
    ]
    timed = policy("rules:\n  r: {correlate_on: cart_id, cooldown: 7d}\n")
    assert statuses(run(timed, carts))[3] == ("send", None)


def test_the_highest_priority_wins_within_the_window():
    book = policy("priority_window: 10m\nrules:\n  high: {priority: 90}\n")
    out = run(
        book,
        [
            candidate(NOON, "low", priority=10),
            candidate(NOON + 5 * MINUTE, "high", priority=10),  # the policy raises it
            candidate(NOON + 30 * MINUTE, "other", priority=10),
        ],
    )
    by_rule = {o["rule_id"]: (o["status"], o["reason"]) for o in out}
    assert by_rule == {
        "low": ("suppressed", "lower_priority"),
        "high": ("send", None),
        "other": ("send", None),
    }
    low = next(o for o in out if o["rule_id"] == "low")
    assert low["reason_detail"].startswith("high (priority 90)")
    # Decided after the window: emitted at trigger time + window in event time, stamped with
    # the trigger time.
    assert low["emit_time_ms"] == NOON


def test_quiet_hours_defer_to_their_end_or_suppress():
    book = policy('quiet_hours: {start: "21:00", end: "08:00"}\n')
    berlin = ZoneInfo("Europe/Berlin")
    night = int(datetime(2027, 3, 10, 22, 15, tzinfo=berlin).timestamp() * 1000)
    morning = int(datetime(2027, 3, 11, 8, 0, tzinfo=berlin).timestamp() * 1000)
    out = run(book, [candidate(night)])
    assert statuses(out) == [("deferred", "quiet_hours"), ("send", None)]
    assert out[0]["decision_id"] == out[1]["decision_id"]
    assert out[0]["deliver_at"] == "2027-03-11T07:00:00.000Z"
    assert out[1]["emit_time_ms"] == morning and out[1]["deliver_at"] is None
    # In Tokyo it is already 06:15 the next morning: still quiet, released at 08:00 Tokyo.
    tokyo = run(book, [candidate(night, zone="Asia/Tokyo")])
    assert tokyo[1]["emit_time"] == "2027-03-10T23:00:00.000Z"
    strict = policy(
        'quiet_hours: {start: "21:00", end: "08:00"}\nrules:\n  r: {quiet_hours: suppress}\n'
    )
    assert statuses(run(strict, [candidate(night)])) == [("suppressed", "quiet_hours")]
    # An unknown zone falls back to the policy's default time zone (UTC: 21:15, quiet).
    assert statuses(run(book, [candidate(night, zone="Mars/Olympus")]))[0][0] == "deferred"


def test_a_released_decision_rechecks_caps_and_consent():
    book = policy('quiet_hours: {start: "21:00", end: "08:00"}\ncaps:\n  - {max: 1, per: 24h}\n')
    berlin = ZoneInfo("Europe/Berlin")
    night = int(datetime(2027, 3, 10, 22, 0, tzinfo=berlin).timestamp() * 1000)
    morning = int(datetime(2027, 3, 11, 8, 0, tzinfo=berlin).timestamp() * 1000)
    out = run(book, [candidate(night, "a"), candidate(morning - MINUTE, "b")])
    # b is deferred too (07:59), released at the same instant after a: a goes first (trigger
    # time), and b meets the cap.
    assert statuses(out) == [
        ("deferred", "quiet_hours"),
        ("deferred", "quiet_hours"),
        ("send", None),
        ("suppressed", "frequency_cap"),
    ]
    opt_out = event("consent", night + H, consent={"email": False, "sms": False})
    assert statuses(run(book, [candidate(night, "a"), opt_out]))[1] == (
        "suppressed",
        "no_consent",
    )


def test_consent_updates_apply_in_event_time_before_a_trigger_at_the_same_instant():
    book = policy()
    entries = [
        candidate(NOON),
        event("consent", NOON, consent={"email": False}),
        candidate(NOON + H, "later"),
        event("consent", NOON + 2 * H, consent={"sms": False}),
        candidate(NOON + 3 * H, "last"),
    ]
    out = run(book, entries)
    assert [(o["channel"], o["reason"]) for o in out] == [
        ("sms", None),
        ("sms", None),
        (None, "no_consent"),
    ]
    defaults = policy("consent_defaults: {email: true, sms: false}\n")
    assert [o["fallback_chain"] for o in run(defaults, [candidate(NOON)])] == [[]]


def test_push_needs_recent_app_activity_on_a_phone():
    book = policy()
    push_first = ("push", "email")
    out = run(
        book,
        [
            candidate(NOON, "app", channels=push_first, device="mobile", channel="app"),
            candidate(NOON + H, "desk", channels=push_first, device="desktop", channel="web"),
            candidate(
                NOON + 2 * H,
                "stale",
                channels=push_first,
                device="mobile",
                channel="app",
                anchor_ms=NOON + H,
            ),
            candidate(NOON + 3 * H, "only", channels=("push",), device="desktop"),
        ],
    )
    assert [(o["rule_id"], o["channel"], o["reason"]) for o in out] == [
        ("app", "push", None),
        ("desk", "email", None),
        ("stale", "email", None),  # the app session was an hour before the trigger
        ("only", None, "no_eligible_channel"),
    ]


def test_delivery_feedback_falls_back_within_the_time_limit():
    book = policy("fallback_within: 2h\n")
    sent = candidate(NOON, channels=("email", "sms", "push"), device="mobile", channel="app")
    bounce = event("feedback", NOON + H, event_type="email_bounced", decision_id=f"r-{NOON}")
    out = run(book, [sent, bounce])
    assert [(o["status"], o["channel"], o["reason"]) for o in out] == [
        ("send", "email", None),
        ("send", "sms", "fallback:email"),
    ]
    fallback = out[1]
    assert fallback["decision_id"] == fallback_id(f"r-{NOON}", "sms")
    assert fallback["fallback_of"] == f"r-{NOON}" and fallback["fallback_chain"] == ["push"]
    # The SMS fails too: the chain goes on, from the fallback's id.
    sms = event(
        "feedback", NOON + 2 * H, event_type="sms_failed", decision_id=fallback["decision_id"]
    )
    chain = run(book, [sent, bounce, sms])
    assert [o["channel"] for o in chain] == ["email", "sms", "push"]
    assert chain[2]["fallback_of"] == f"r-{NOON}"
    # Too late, the wrong channel, or nothing left: no fallback.
    late = event("feedback", NOON + 3 * H, event_type="email_bounced", decision_id=f"r-{NOON}")
    assert len(run(book, [sent, late])) == 1
    wrong = event("feedback", NOON + H, event_type="push_failed", decision_id=f"r-{NOON}")
    assert len(run(book, [sent, wrong])) == 1
    alone = candidate(NOON, channels=("email", "sms"))
    opted_out = event("consent", NOON + 1, consent={"sms": False})
    out = run(book, [alone, opted_out, bounce])
    assert statuses(out)[1] == ("suppressed", "no_fallback_channel")


def test_experiment_assignment_is_deterministic_and_follows_the_split():
    book = policy(
        "experiments:\n  - id: timing\n    holdout: 10\n    variants:\n"
        "      - {name: fast, weight: 3, rule: fast_rule}\n"
        "      - {name: slow, weight: 1, rule: slow_rule, channels: [sms], content_key: k2}\n"
    )
    experiment = book.at(0).experiments[0]
    arms: Counter[tuple[str, bool]] = Counter()
    for i in range(20_000):
        variant, held_out = assign(f"customer-{i}", experiment)
        assert (variant, held_out) == assign(f"customer-{i}", experiment)
        arms[(variant.name, held_out)] += 1
    held = arms[("fast", True)] + arms[("slow", True)]
    assert 1_800 < held < 2_200
    assert (
        2.7
        < (arms[("fast", False)] + arms[("fast", True)])
        / (arms[("slow", False)] + arms[("slow", True)])
        < 3.3
    )
    outputs = []
    for i in range(400):
        customer = f"customer-{i}"
        for rule in ("fast_rule", "slow_rule"):
            outputs += run(book, [candidate(NOON, rule, customer=customer)])
    assert len(outputs) == 400  # each customer's trigger of the other arm is not theirs
    for output in outputs:
        variant, held_out = assign(output["customer_id"], experiment)
        assert output["experiment"] == "timing" and output["variant"] == variant.name
        assert output["rule_id"] == variant.rule
        assert output["status"] == ("holdout" if held_out else "send")
        if variant.name == "slow":
            assert output["channel"] == "sms" and output["content_key"] == "k2"


def test_holdouts_do_not_use_up_caps():
    book = policy(
        "caps:\n  - {max: 1, per: 24h}\n"
        "experiments:\n  - id: e\n    holdout: 100\n    variants:\n"
        "      - {name: v, weight: 1, rule: held}\n"
    )
    out = run(book, [candidate(NOON, "held"), candidate(NOON + H, "free")])
    assert statuses(out) == [("holdout", "holdout"), ("send", None)]


def test_disabled_rules_are_suppressed_with_the_reason():
    out = run(policy("rules:\n  r: {enabled: false}\n"), [candidate(NOON)])
    assert statuses(out) == [("suppressed", "rule_disabled")]


def test_erasure_forgets_everything_before_it_and_confirms():
    book = policy("caps:\n  - {max: 1, per: 24h}\nrules:\n  r: {correlate_on: cart_id}\n")
    cart = {"cart_id": "k1"}
    entries = [
        candidate(NOON, payload=cart),
        event("consent", NOON + 1, consent={"email": False}),
        event("erasure", NOON + H),
        candidate(NOON + 2 * H, payload=cart),
    ]
    engine = CustomerPolicy("c1")
    for _, entry in entries[:2]:
        engine.add(dict(entry), book)
    engine.advance(NOON + 1, book)
    assert engine.state["sends"] and engine.state["cooldowns"] and engine.state["consent"]
    for _, entry in entries[2:]:
        engine.add(dict(entry), book)
    outputs, _ = engine.advance(NOON + 3 * H, book)
    erasure, decision = outputs
    assert erasure["type"] == "erasure" and erasure["erasure_event_id"] == f"erasure-{NOON + H}"
    assert erasure["forgotten"] == {
        "sends": 1,
        "cooldowns": 1,
        "consent": 1,
        "pending_fallbacks": 1,
        "queued": 0,
    }
    # Neither the cap, nor the cart's cooldown, nor the email opt-out survives the erasure.
    assert (decision["status"], decision["channel"]) == ("send", "email")
    assert engine.state["sends"] == [[NOON + 2 * H, "email", "2027-03-10"]]


def test_candidates_anchored_before_an_erasure_are_discarded():
    book = policy("rules:\n  r: {}\n")
    entries = [
        candidate(NOON + H + 10 * 60_000, anchor_ms=NOON + H - 5 * 60_000),
        event("erasure", NOON + H),
        candidate(NOON + 2 * H, anchor_ms=NOON + H),
    ]
    outputs = run(book, entries)
    assert [o["type"] for o in outputs] == ["erasure", "decision"]
    assert outputs[1]["emit_time_ms"] == NOON + 2 * H
    # Without the erasure, the first candidate is decided.
    assert len(run(book, [entries[0], entries[2]])) == 2


def test_a_decision_deferred_before_an_erasure_is_never_released():
    book = policy('quiet_hours: {start: "21:00", end: "08:00"}\n')
    night = NOON + 9 * H  # 22:00 in Berlin: deferred to 08:00
    deferred = [candidate(night)]
    assert statuses(run(book, deferred)) == [("deferred", "quiet_hours"), ("send", None)]
    outputs = run(book, [*deferred, event("erasure", night + 2 * H)])
    assert [o.get("status", o["type"]) for o in outputs] == ["deferred", "erasure"]
    assert outputs[1]["forgotten"]["queued"] == 1


def test_decisions_do_not_depend_on_arrival_order():
    book = policy(
        'priority_window: 15m\nquiet_hours: {start: "22:00", end: "07:00"}\n'
        "caps:\n  - {max: 2, per: 24h}\n  - {max: 1, per: calendar_day, channel: sms}\n"
        "rules:\n  r0: {priority: 70, correlate_on: cart_id}\n"
    )
    rng = random.Random(7)
    entries = []
    for _ in range(300):
        at = NOON + rng.randrange(0, 72 * H)
        customer = f"c{rng.randrange(5)}"
        kind = rng.random()
        if kind < 0.75:
            entries.append(
                candidate(
                    at,
                    f"r{rng.randrange(3)}",
                    customer=customer,
                    payload={"cart_id": f"k{rng.randrange(4)}"},
                )
            )
        elif kind < 0.9:
            flags = {c: rng.random() < 0.7 for c in ("email", "sms")}
            entries.append(event("consent", at, customer, consent=flags))
        else:
            entries.append(event("erasure", at, customer))
    expected = run(book, entries)
    assert Counter(o.get("status", o["type"]) for o in expected).keys() >= {
        "send",
        "suppressed",
        "deferred",
        "erasure",
    }
    for _ in range(3):
        rng.shuffle(entries)
        assert run(book, entries) == expected


def test_policy_files_are_validated_with_the_field_named(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: 2\ncaps:\n  - {max: 3, per: 24hours}\n")
    with pytest.raises(PolicyError, match=r"policy.yaml: caps.0.per: .*duration"):
        load_policy(path)
    for text, message in [
        ("version: 1\nquiet_hours: {start: '25:00', end: '08:00'}\n", "quiet_hours.start"),
        ("version: 1\nrules:\n  r: {quiet_hours: later}\n", "rules.r.quiet_hours"),
        ("version: 1\ndefault_time_zone: Mars/Olympus\n", "unknown IANA time zone"),
        ("version: 1\ncaps: [{max: 1, per: 1h, channel: pigeon}]\n", "unknown channel"),
        ("version: 1\nbogus: 1\n", "bogus"),
        ("caps: []\n", "version"),
        ("[1, 2]\n", "must be a mapping"),
        ("version: 1\nexperiments:\n  - {id: e, variants: []}\n", "variants"),
    ]:
        with pytest.raises(PolicyError, match=message):
            parse_policy_text(text, source="control message")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text", ["[" * 1000 + "]" * 1000, "version: 1\ncaps: " + "[" * 3000 + "]" * 3000 + "\n"]
)
def test_a_deeply_nested_control_message_is_a_dead_letter_not_a_failure(text):
    from jobs.policy_stage import REJECT_INVALID_CONTROL, control_policy

    book = PolicyBook((parse_policy_text("version: 1\n", source="file"),))
    with pytest.raises(PolicyError, match="nested more than 32 levels deep to be a policy"):
        parse_policy_text(text, source="control message")
    kept, reason = control_policy(book, text, 0, "control message")
    assert kept is book
    assert reason is not None and reason.startswith(f"{REJECT_INVALID_CONTROL}: ")


def test_policy_versions_apply_from_their_effective_time():
    first = parse_policy_text("version: 1\n", source="a")
    second = parse_policy_text(f"version: 2\neffective_from: {NOON}\n", source="b")
    book = PolicyBook((first,)).with_version(second)
    assert book.at(NOON - 1).version == 1 and book.at(NOON).version == 2
    with pytest.raises(PolicyError, match="not newer"):
        book.with_version(parse_policy_text("version: 2\n", source="c"))


def test_entries_after_an_erasure_are_processed_once():
    book = policy("priority_window: 20m\n")
    entries = [
        candidate(NOON, "low", priority=10),
        event("erasure", NOON + H),
        candidate(NOON + 2 * H, "high", priority=90),
        candidate(NOON + 3 * H, "low", priority=10),
    ]
    engine = CustomerPolicy("c1")
    for _, entry in entries:
        engine.add(dict(entry), book)
    first, _ = engine.advance(NOON + 2 * H + 20 * MINUTE, book)
    assert [o.get("rule_id") for o in first] == ["low", None, "high"]
    assert engine.state["queue"] == [entries[3][1] | {"due": NOON + 3 * H + 20 * MINUTE}]
    rest, _ = engine.advance(NOON + 4 * H, book)
    # The low-priority trigger an hour after the high one is not in its window.
    assert statuses(rest) == [("send", None)]
