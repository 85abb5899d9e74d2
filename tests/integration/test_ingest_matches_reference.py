"""The job's ingest accepts, rejects and time-stamps records exactly as the Python reference.

The job parses each record once in the JVM (``journeytriggers.ingest``, called from the
source's SQL). Each valid record is an add_to_cart of its own customer, so each yields one
abandonment decision whose ``trigger_time_ms`` reveals the timestamp the job parsed. Valid
timestamps increase in file order, so nothing is late.
"""

from __future__ import annotations

import json

import pytest

from journey_triggers.config import JobConfig
from journey_triggers.events import Event, Rejection, cart_products, parse_event
from tests.integration.conftest import run_on_file

pytestmark = pytest.mark.integration

HOUR = 3_600_000
MAX_CHARS = 8_000  # --max-record-chars for this corpus
BASE = 1_798_761_600_000  # 2027-01-01T00:00:00Z

VALID_TS = [
    BASE,
    str(BASE + HOUR),
    "2027-01-01T02:00:00Z",
    "2027-01-01T03:00:00.5Z",
    "2027-01-01T09:30:00.123456789+05:30",
    "2027-01-01T05:00:00.07+01:00",
    "2026-12-31T22:00:00-08:00",
    "2027-01-01 07:00:00Z",
    "2027-01-01T08:00:00.999-00:00",
]
INVALID_TS = [
    "2027-02-30T10:00:00Z",
    "2027-01-01T25:00:00Z",
    "2027-01-01T10:00:00+24:00",
    "2027-01-01T10:00:00",
    "2027-01-01T10:00Z",
    "1.7e12",
    -5,
    True,
    None,
    {"ms": 5},
    1.5,
    "tomorrow",
    "1234567890123456",
    # Past the latest event time (9998-12-31T23:59:59.999Z): a timestamp Flink cannot hold.
    253_370_764_800_000,
    "253370764800000",
    999_999_999_999_999,
    "9999-01-01T00:00:00Z",
    "9998-12-31T23:59:59-01:00",
]


def _record(event_id: object, **fields: object) -> str:
    base: dict[str, object] = {"event_id": event_id, "event_type": "add_to_cart"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


def corpus() -> list[str]:
    lines = [_record(f"v{i}", customer_id=f"c-v{i}", ts=ts) for i, ts in enumerate(VALID_TS)]
    lines += [_record(f"t{i}", customer_id=f"c-t{i}", ts=ts) for i, ts in enumerate(INVALID_TS)]
    tail = BASE + 20 * HOUR
    lines += [
        _record("anon1", anonymous_id="a-1", ts=tail),
        _record("numcust", customer_id=7, anonymous_id="a-2", ts=tail + 1),
        _record("emptycust", customer_id="", anonymous_id="a-3", ts=tail + 2),
        _record("noid", customer_id=7, ts=tail + 3),
        _record(7, customer_id="c-x", ts=tail + 4),
        _record("", customer_id="c-x", ts=tail + 5),
        _record("nul\u0000id", customer_id="c-x", ts=tail + 5),
        _record("badtype", event_type="teleport", customer_id="c-x", ts=tail + 6),
        _record("listtype", event_type=["add_to_cart"], customer_id="c-x", ts=tail + 7),
        _record("notype", event_type=..., customer_id="c-x", ts=tail + 8),
        _record("nots", customer_id="c-x", ts=...),
        "not json",
        "",
        "[1, 2]",
        '"just a string"',
        '{"event_id": "trunc", "event_type": "add_to_cart"',
        _record("unicode-é", customer_id="c-ü", ts=tail + 9),
        # Delivery feedback must name its decision.
        _record("fb-none", event_type="email_bounced", customer_id="c-x", ts=tail + 10),
        _record(
            "fb-num",
            event_type="push_failed",
            customer_id="c-x",
            ts=tail + 11,
            properties={"decision_id": 5},
        ),
        _record(
            "fb-empty",
            event_type="sms_failed",
            customer_id="c-x",
            ts=tail + 12,
            properties={"decision_id": ""},
        ),
        _record(
            "fb-flat", event_type="email_bounced", customer_id="c-x", ts=tail + 13, properties=[1]
        ),
    ]
    # Cart snapshots: valid ones are decided on (and carried by the decision), others rejected.
    carts: list[object] = [
        None,
        [],
        [{"product_id": "p1", "quantity": 2}, {"product_id": 'p"2\\', "price": 3.5}],
        [{"product_id": "é-1", "extra": {"a": [1]}}],
        "p1",
        {"product_id": "p1"},
        ["p1"],
        [None],
        [{"product_id": ""}],
        [{"product_id": 7}],
        [{"product_id": ["p1"]}],
        [{"product_id": "p1"}, {"sku": "p2"}],
        [[{"product_id": "p1"}]],
    ]
    lines += [
        _record(f"cart{i}", customer_id=f"c-cart{i}", ts=tail + 14 + i, properties={"cart": c})
        for i, c in enumerate(carts)
    ]
    # Records at the size limit are taken; one character more is a dead letter. The emoji
    # counts as one character (a code point), in the SQL as in Python.
    for i, (pad, extra) in enumerate([("x", 0), ("x", 1), ("\U0001f600", 0), ("\U0001f600", 1)]):
        stub = _record(f"size{i}", customer_id=f"c-size{i}", ts=tail + 30 + i, note="")
        fill = MAX_CHARS - len(stub) + extra
        lines.append(stub.replace('"note": ""', f'"note": "{pad * fill}"'))
    # The key spelled with escapes is the same key.
    lines.append(
        '{"event_id": "cart-esc", "event_type": "add_to_cart", "customer_id": "c-esc", '
        f'"ts": {tail + 40}, "properties": {{"\\u0063art": "p1"}}}}'
    )
    # Jackson's limits are the reference's: nesting 1,000 deep (the record's own object and its
    # properties count), numbers of 1,000 digits, a decimal's exponent and scale within 32 bits
    # (the job reads decimals as BigDecimal); NaN and Infinity are not JSON. Duplicate keys
    # keep the last value; a lone surrogate escape is text.
    odd_values = {
        "deep998": "[" * 998 + "]" * 998,
        "deep999": "[" * 999 + "]" * 999,
        "deepobj998": '{"a":' * 998 + "1" + "}" * 998,
        "deepobj999": '{"a":' * 999 + "1" + "}" * 999,
        "int1000": "1" * 1000,
        "int1001": "1" * 1001,
        "neg1000": "-" + "1" * 1000,
        "neg1001": "-" + "1" * 1001,
        "frac1000": "1." + "1" * 999,
        "frac1001": "1." + "1" * 1000,
        "exp1000": "1e" + "1" * 999,  # an exponent out of range
        "exp2147483647": "1e2147483647",  # a decimal's exponent and scale are 32-bit
        "exp2147483648": "1e2147483648",
        "expneg2147483647": "1e-2147483647",
        "expneg2147483648": "1e-2147483648",
        "scale2147483648": "1.5e-2147483647",
        "exp10digits": "1e1000000000",
        "huge": "1e400",
        "nan": "NaN",
        "infinity": "Infinity",
        "minusinf": "-Infinity",
        "surrogate": '"\\ud800"',
        "brackets": '"[[[[{{{{"',
    }
    for i, (name, value) in enumerate(odd_values.items()):
        stub = _record(name, customer_id=f"c-{name}", ts=tail + 50 + i, properties={"x": 0})
        lines.append(stub.replace('"x": 0', f'"x": {value}'))
    lines += [
        "[" * 1000 + "]" * 1000,
        "[" * 1001 + "]" * 1001,
        '{"event_id": "dup-last", "event_type": "teleport", "event_type": "add_to_cart", '
        f'"customer_id": "c-dup1", "ts": {tail + 80}}}',
        '{"event_id": "dup-first", "event_type": "add_to_cart", "event_type": "teleport", '
        f'"customer_id": "c-dup2", "ts": {tail + 81}}}',
    ]
    return lines


def test_job_ingest_agrees_with_python_reference(tmp_path):
    lines = corpus()
    out = run_on_file(lines, tmp_path, JobConfig(parallelism=2, max_record_chars=MAX_CHARS))

    parsed = [parse_event(line, max_chars=MAX_CHARS) for line in lines]
    sized = [p for line, p in zip(lines, parsed, strict=True) if '"event_id": "size' in line]
    assert [getattr(p, "reason", None) for p in sized] == [None, "oversized_record"] * 2
    expected_rejections = sorted((p.reason, p.raw) for p in parsed if isinstance(p, Rejection))
    got_rejections = sorted((d["reason"], d["raw"] or "") for d in out["dead_letters"])
    assert got_rejections == expected_rejections

    expected_times = {p.event_id: p.ts_ms for p in parsed if isinstance(p, Event)}
    got_times = {
        d["explanation"]["anchor_event_id"]: d["trigger_time_ms"] - 15 * 60_000
        for d in out["decisions"]
    }
    assert got_times == expected_times
    expected_keys = {p.event_id: p.customer_key for p in parsed if isinstance(p, Event)}
    got_keys = {d["explanation"]["anchor_event_id"]: d["customer_id"] for d in out["decisions"]}
    assert got_keys == expected_keys
    expected_carts = {p.event_id: cart_products(p.record) for p in parsed if isinstance(p, Event)}
    got_carts = {d["explanation"]["anchor_event_id"]: d["cart"] for d in out["decisions"]}
    assert got_carts == expected_carts
    assert sum(cart is not None for cart in got_carts.values()) == 3
    assert out["late_events"] == []
    # Nothing is lost: every record is either decided on or dead-lettered.
    assert len(out["decisions"]) + len(out["dead_letters"]) == len(lines)
