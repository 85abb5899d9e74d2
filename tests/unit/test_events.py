from __future__ import annotations

import json

import pytest

from journey_triggers import events as ev
from journey_triggers.events import Event, Rejection, parse_event, parse_timestamp_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_798_761_600_000, 1_798_761_600_000),
        ("1798761600000", 1_798_761_600_000),
        ("2027-01-01T00:00:00Z", 1_798_761_600_000),
        ("2027-01-01T01:00:00+01:00", 1_798_761_600_000),
        ("2026-12-31T19:00:00.250-05:00", 1_798_761_600_250),
        ("2027-01-01T00:00:00.1239Z", 1_798_761_600_123),
        ("2027-01-01 00:00:00Z", 1_798_761_600_000),
        # The latest event time taken, 9998-12-31T23:59:59.999Z, in every form.
        (253_370_764_799_999, 253_370_764_799_999),
        ("253370764799999", 253_370_764_799_999),
        ("9998-12-31T23:59:59.999Z", 253_370_764_799_999),
        ("9999-01-01T00:59:59.999+01:00", 253_370_764_799_999),
    ],
)
def test_timestamps_parse_to_epoch_ms(value, expected):
    assert parse_timestamp_ms(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2027-02-30T00:00:00Z",
        "2027-01-01T00:00:00",
        "2027-01-01T00:00:00+24:00",
        -1,
        True,
        1.5,
        "x",
        253_370_764_800_000,  # past the latest event time: Flink has no timestamp for it
        "253370764800000",
        "9999-01-01T00:00:00Z",
        "9998-12-31T23:59:59-01:00",
    ],
)
def test_invalid_timestamps_are_rejected(value):
    assert parse_timestamp_ms(value) is None


def test_anonymous_visitor_is_keyed_in_its_own_namespace():
    event = parse_event(
        json.dumps({"event_id": "e", "event_type": "page_view", "anonymous_id": "a1", "ts": 5})
    )
    assert isinstance(event, Event)
    assert event.customer_key == "anon:a1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", ev.REJECT_EMPTY),
        ("{", ev.REJECT_NOT_JSON_OBJECT),
        ("[]", ev.REJECT_NOT_JSON_OBJECT),
        ('{"event_type": "page_view", "customer_id": "c", "ts": 1}', ev.REJECT_MISSING_EVENT_ID),
        (
            '{"event_id": 5, "event_type": "page_view", "customer_id": "c", "ts": 1}',
            ev.REJECT_MISSING_EVENT_ID,
        ),
        ('{"event_id": "e", "customer_id": "c", "ts": 1}', ev.REJECT_MISSING_EVENT_TYPE),
        (
            '{"event_id": "e", "event_type": "fly", "customer_id": "c", "ts": 1}',
            ev.REJECT_UNKNOWN_EVENT_TYPE,
        ),
        (
            '{"event_id": "e", "event_type": "page_view", "customer_id": 5, "ts": 1}',
            ev.REJECT_MISSING_IDENTITY,
        ),
        (
            '{"event_id": "e", "event_type": "email_bounced", "customer_id": "c", "ts": 1}',
            ev.REJECT_MISSING_DECISION_ID,
        ),
        (
            '{"event_id": "e", "event_type": "push_failed", "customer_id": "c", "ts": 1, '
            '"properties": {"decision_id": 7}}',
            ev.REJECT_MISSING_DECISION_ID,
        ),
        *(
            (
                '{"event_id": "e", "event_type": "add_to_cart", "customer_id": "c", "ts": 1, '
                f'"properties": {{"cart": {cart}}}}}',
                ev.REJECT_INVALID_CART,
            )
            for cart in (
                '"p1"',
                '{"product_id": "p1"}',
                '["p1"]',
                "[null]",
                '[{"product_id": ""}]',
                '[{"product_id": 7}]',
                '[{"product_id": "p1"}, {"sku": "p2"}]',
                '[[{"product_id": "p1"}]]',
            )
        ),
        ('{"event_id": "e", "event_type": "page_view", "customer_id": "c"}', ev.REJECT_MISSING_TS),
        (
            '{"event_id": "e", "event_type": "page_view", "customer_id": "c", "ts": null}',
            ev.REJECT_MISSING_TS,
        ),
        (
            '{"event_id": "e", "event_type": "page_view", "customer_id": "c", "ts": "x"}',
            ev.REJECT_INVALID_TS,
        ),
    ],
)
def test_bad_records_are_rejected_with_a_reason(raw, reason):
    result = parse_event(raw)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.raw == raw


@pytest.mark.parametrize(
    ("cart", "products"),
    [
        ("null", None),
        ("[]", []),
        ('[{"product_id": "p2", "quantity": 2}, {"product_id": "p1", "price": 9.5}]', ["p2", "p1"]),
    ],
)
def test_cart_snapshots_are_accepted_and_name_their_products(cart, products):
    raw = (
        '{"event_id": "e", "event_type": "add_to_cart", "customer_id": "c", "ts": 1, '
        f'"properties": {{"cart": {cart}}}}}'
    )
    event = parse_event(raw)
    assert isinstance(event, Event)
    assert ev.cart_products(event.record) == products


def test_json_lines_end_at_line_feeds_only():
    # U+2028 and U+0085 may stand raw in a JSON string; str.splitlines would cut there.
    text = '{"a": "x\u2028y"}\n{"b": "\u0085"}\r\n\n{"c": 1}'
    assert ev.json_lines(text) == ['{"a": "x\u2028y"}', '{"b": "\u0085"}', "", '{"c": 1}']
    assert [json.loads(line) for line in ev.json_lines(text) if line][0] == {"a": "x\u2028y"}


def test_unknown_types_are_accepted_when_asked_but_every_other_check_still_holds():
    raw = '{"event_id": "e", "event_type": "fly", "customer_id": "c", "ts": 1}'
    accepted = parse_event(raw, accept_unknown_types=True)
    assert isinstance(accepted, Event)
    assert accepted.event_type == "fly"
    no_identity = '{"event_id": "e", "event_type": "fly", "ts": 1}'
    rejected = parse_event(no_identity, accept_unknown_types=True)
    assert isinstance(rejected, Rejection)
    assert rejected.reason == ev.REJECT_MISSING_IDENTITY
