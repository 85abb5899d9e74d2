"""Customer events: the vocabulary, the timestamp rules and a reference parser.

The Flink job parses events in JVM SQL (``jobs/sql.py``). This module states the same rules in
plain Python. The generator, the plain-Python trigger semantics and the tests use it, and an
integration test checks that SQL and Python accept, reject and time-stamp the same records.
The JSON Schema of an event is ``schemas/customer_event.v1.json``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEMA_VERSION = 1

FEEDBACK_EVENT_TYPES = ("email_bounced", "push_failed", "sms_failed")
"""Delivery feedback about a decision: each must name it (``properties.decision_id``); the
decision policy's channel fallback reads them."""

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "purchase",
    "form_started",
    "form_submitted",
    "video_progress",
    "email_open",
    "email_click",
    "login",
    "consent_update",
    "erasure_request",
    *FEEDBACK_EVENT_TYPES,
)
"""Every event type, delivery feedback last."""

# Reasons a record is dead-lettered. The SQL ingest uses the same strings, checked in this order.
REJECT_EMPTY = "empty_record"
REJECT_OVERSIZED = "oversized_record"
MAX_RECORD_CHARS = 1_000_000
"""The longest record (in characters) the job takes by default (``--max-record-chars``)."""
REJECT_NOT_JSON_OBJECT = "not_a_json_object"
REJECT_MISSING_EVENT_ID = "missing_event_id"
REJECT_INVALID_EVENT_ID = "invalid_event_id"
REJECT_MISSING_EVENT_TYPE = "missing_event_type"
REJECT_UNKNOWN_EVENT_TYPE = "unknown_event_type"
REJECT_MISSING_IDENTITY = "missing_identity"
REJECT_MISSING_DECISION_ID = "missing_decision_id"
REJECT_INVALID_CART = "invalid_cart"
REJECT_MISSING_TS = "missing_ts"
REJECT_INVALID_TS = "invalid_ts"
REJECT_TS_AHEAD = "ts_ahead_of_record_time"
REJECT_TS_BEHIND = "ts_behind_record_time"

MAX_JSON_DEPTH = 1_000
"""The deepest nesting of arrays and objects the job parses (Jackson's default, as the SQL
ingest's ``IS JSON`` uses it): a record nested deeper is not JSON."""
MAX_JSON_NUMBER_DIGITS = 1_000
"""The most digits one JSON number may have (Jackson's default): a longer one is not JSON."""
_INT32 = range(-(2**31), 2**31)
_ODD_NUMBER = re.compile(rf"[0-9.eE+-]{{{MAX_JSON_NUMBER_DIGITS + 1},}}|[eE][+-]?[0-9]{{10,}}")
"""Text that may hold a number Jackson refuses: too many digits, or an exponent too large."""


def _int_within_limit(text: str) -> int:
    if sum(char.isdigit() for char in text) > MAX_JSON_NUMBER_DIGITS:
        msg = f"a number with more than {MAX_JSON_NUMBER_DIGITS} digits"
        raise ValueError(msg)
    return int(text)


def _float_within_limit(text: str) -> float:
    """Return the decimal in ``text``, refused as the job's ``BigDecimal`` would refuse it."""
    mantissa, _, exponent = text.lower().partition("e")
    fraction_digits = len(mantissa.partition(".")[2])
    if exponent and (int(exponent) not in _INT32 or fraction_digits - int(exponent) not in _INT32):
        msg = f"the exponent of {text[:20]}... is out of range"
        raise ValueError(msg)
    _int_within_limit(mantissa.replace(".", "") or "0")
    return float(text)


def _no_constant(name: str) -> Any:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _nesting_depth(text: str) -> int:
    """Return the deepest nesting of arrays and objects in ``text`` (brackets in strings aside)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(text: str) -> Any:
    """Parse JSON text as the job's JVM parser does, or raise ``ValueError``.

    Stricter than :func:`json.loads` where Jackson is: ``NaN`` and ``Infinity`` are not JSON,
    a number has at most :data:`MAX_JSON_NUMBER_DIGITS` digits, a decimal's exponent and scale
    fit 32 bits (``BigDecimal``), and arrays and objects nest at most :data:`MAX_JSON_DEPTH`
    deep (deeper is refused, never a ``RecursionError``). Duplicate keys keep the last value,
    in both.
    """
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH // 2
    depth = _nesting_depth(text) if deep else 0
    if depth > MAX_JSON_DEPTH:
        msg = f"nested more than {MAX_JSON_DEPTH} deep"
        raise ValueError(msg)
    odd_numbers = _ODD_NUMBER.search(text) is not None
    limit = sys.getrecursionlimit()
    if deep:  # the C decoder recurses once per level, on the interpreter's recursion count
        sys.setrecursionlimit(limit + depth + 100)
    try:
        return json.loads(
            text,
            parse_int=_int_within_limit if odd_numbers else None,
            parse_float=_float_within_limit if odd_numbers else None,
            parse_constant=_no_constant,
        )
    finally:
        if deep:
            sys.setrecursionlimit(limit)


MAX_EVENT_TIME_MS = 253_370_764_799_999
"""The latest event time taken: 9998-12-31T23:59:59.999Z. Flink's timestamps end with the year
9999, and a decision comes up to a rule's window after its anchor; a record dated later is
``invalid_ts`` (one such record used to fail the job: its event time had no timestamp)."""

# Epoch milliseconds (a JSON integer or a string of digits), or ISO-8601 with a zone.
EPOCH_MS = re.compile(r"^[0-9]{1,15}$")
ISO_8601 = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
ANONYMOUS_PREFIX = "anon:"
DEVICE_PREFIX = "device:"


@dataclass(frozen=True)
class Event:
    """A valid customer event, reduced to what the job reads."""

    event_id: str
    event_type: str
    customer_key: str
    ts_ms: int
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    customer_id: str | None = None
    anonymous_id: str | None = None
    device_id: str | None = None
    session_id: str | None = None
    source_partition: int = 0
    record: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    """The whole JSON record, for rule conditions and payloads."""
    raw: str = field(default="", hash=False, compare=False, repr=False)
    """The record exactly as received (the last tie-breaker when ordering events)."""
    session_start_ms: int | None = field(default=None, hash=False, compare=False, repr=False)
    """The first event time of the event's session (see ``semantics.context``), once known."""
    profile: dict[str, Any] | None = field(default=None, hash=False, compare=False, repr=False)
    """The customer's profile as of this event (see ``semantics.profile``), once known."""
    score: float | None = field(default=None, hash=False, compare=False, repr=False)
    """The propensity model's score of this moment, when a model is in use."""
    features: dict[str, float] | None = field(default=None, hash=False, compare=False, repr=False)
    """The model's features of this moment (``udfs/features.py``), when a model is in use."""
    model_version: str | None = field(default=None, hash=False, compare=False, repr=False)


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be processed, with the reason it is dead-lettered."""

    reason: str
    raw: str


def customer_key(
    customer_id: str | None, anonymous_id: str | None, device_id: str | None = None
) -> str | None:
    """Return the key a record is processed under before identity stitching.

    A known customer is keyed by ``customer_id``; an anonymous visitor by ``anon:<anonymous_id>``,
    or ``device:<device_id>`` when only a device id is known, so the id spaces never collide.
    ``semantics.identity`` then moves anonymous events to the customer a login links them to.
    """
    if customer_id:
        return customer_id
    if anonymous_id:
        return ANONYMOUS_PREFIX + anonymous_id
    if device_id:
        return DEVICE_PREFIX + device_id
    return None


def parse_timestamp_ms(value: Any) -> int | None:
    """Return epoch milliseconds for an event's ``ts``, or ``None`` when it is invalid.

    Accepted: a non-negative integer of epoch milliseconds (as a JSON number or a string of
    digits), or ISO-8601 with seconds and a zone (``Z`` or ``±hh:mm``); fractions beyond
    milliseconds are truncated. The time must be at most :data:`MAX_EVENT_TIME_MS`.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_EVENT_TIME_MS else None
    if not isinstance(value, str):
        return None
    if EPOCH_MS.match(value):
        return int(value) if int(value) <= MAX_EVENT_TIME_MS else None
    match = ISO_8601.match(value)
    if match is None:
        return None
    day, hh, mm, ss, fraction, zone = match.groups()
    try:
        local = datetime.strptime(f"{day} {hh}:{mm}:{ss}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    offset_minutes = 0
    if zone != "Z":
        zh, zm = int(zone[1:3]), int(zone[4:6])
        if zh > 23 or zm > 59:
            return None
        offset_minutes = (zh * 60 + zm) * (1 if zone[0] == "+" else -1)
    millis = int((fraction or ".0")[1:4].ljust(3, "0"))
    instant = local - timedelta(minutes=offset_minutes)
    epoch = int(instant.timestamp()) * 1000 + millis
    return epoch if 0 <= epoch <= MAX_EVENT_TIME_MS else None


def format_timestamp_ms(ts_ms: int) -> str:
    """Render epoch milliseconds as ISO-8601 UTC with milliseconds, as decisions carry them."""
    instant = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, str) and value != "":
        return value
    return None


def json_lines(text: str) -> list[str]:
    """Return the records of a JSON-lines text, as the job's file source splits them.

    Records end at a line feed only (a carriage return before it, from a CRLF file, is dropped):
    ``str.splitlines`` would also cut at U+2028, U+0085 and other characters that a JSON string
    may hold raw (found by ``tests/integration/test_fuzz_job.py``).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def valid_cart(cart: Any) -> bool:
    """Return whether ``properties.cart`` is absent, ``null``, or a valid cart snapshot.

    A snapshot is the tracker's whole cart after the event: a JSON array (possibly empty) of
    objects, each with a non-empty string ``product_id`` (other members are kept as sent).
    """
    if cart is None:
        return True
    return isinstance(cart, list) and all(
        isinstance(line, dict) and _text(line, "product_id") is not None for line in cart
    )


def cart_products(record: dict[str, Any]) -> list[str] | None:
    """Return the product ids of a valid record's cart snapshot, in order; ``None`` without one."""
    properties = record.get("properties")
    cart = properties.get("cart") if isinstance(properties, dict) else None
    if not isinstance(cart, list):
        return None
    return [line["product_id"] for line in cart]


def parse_event(
    raw: str | None,
    *,
    source_partition: int = 0,
    max_chars: int = MAX_RECORD_CHARS,
    record_time_ms: int | None = None,
    max_ahead_ms: int = 0,
    max_behind_ms: int = 0,
    accept_unknown_types: bool = False,
) -> Event | Rejection:
    """Validate one raw record the way the job's SQL ingest does.

    A record longer than ``max_chars`` characters is refused before it is parsed. With the
    record's own time (a Kafka record's timestamp), a ``ts`` more than ``max_ahead_ms`` after
    it or more than ``max_behind_ms`` before it is refused (0: no bound); exactly at a bound
    is taken. An ``event_type`` not in ``EVENT_TYPES`` is refused unless
    ``accept_unknown_types`` (``--unknown-event-types accept``).

    Identity, id and type fields must be non-empty JSON strings; an absent or ``null`` ``ts``
    is missing, any other unparseable ``ts`` is invalid.
    """
    if not raw:
        return Rejection(REJECT_EMPTY, raw or "")
    if len(raw) > max_chars:
        return Rejection(REJECT_OVERSIZED, raw)
    try:
        record = load_json(raw)
    except ValueError:
        return Rejection(REJECT_NOT_JSON_OBJECT, raw)
    if not isinstance(record, dict):
        return Rejection(REJECT_NOT_JSON_OBJECT, raw)
    event_id = _text(record, "event_id")
    if event_id is None:
        return Rejection(REJECT_MISSING_EVENT_ID, raw)
    if "\x00" in event_id:
        # NUL separates the event id from the record in the job's deterministic tie-break keys.
        return Rejection(REJECT_INVALID_EVENT_ID, raw)
    event_type = _text(record, "event_type")
    if event_type is None:
        return Rejection(REJECT_MISSING_EVENT_TYPE, raw)
    if event_type not in EVENT_TYPES and not accept_unknown_types:
        return Rejection(REJECT_UNKNOWN_EVENT_TYPE, raw)
    key = customer_key(
        _text(record, "customer_id"), _text(record, "anonymous_id"), _text(record, "device_id")
    )
    if key is None:
        return Rejection(REJECT_MISSING_IDENTITY, raw)
    properties = record.get("properties")
    if event_type in FEEDBACK_EVENT_TYPES and (
        not isinstance(properties, dict) or _text(properties, "decision_id") is None
    ):
        # Feedback the policy cannot tie to a decision would otherwise be ignored silently.
        return Rejection(REJECT_MISSING_DECISION_ID, raw)
    if isinstance(properties, dict) and not valid_cart(properties.get("cart")):
        return Rejection(REJECT_INVALID_CART, raw)
    if record.get("ts") is None:
        return Rejection(REJECT_MISSING_TS, raw)
    ts_ms = parse_timestamp_ms(record["ts"])
    if ts_ms is None:
        return Rejection(REJECT_INVALID_TS, raw)
    if record_time_ms is not None:
        if max_ahead_ms and ts_ms > record_time_ms + max_ahead_ms:
            return Rejection(REJECT_TS_AHEAD, raw)
        if max_behind_ms and ts_ms < record_time_ms - max_behind_ms:
            return Rejection(REJECT_TS_BEHIND, raw)
    return Event(
        event_id=event_id,
        event_type=event_type,
        customer_key=key,
        ts_ms=ts_ms,
        properties=properties if isinstance(properties, dict) else {},
        customer_id=_text(record, "customer_id"),
        anonymous_id=_text(record, "anonymous_id"),
        device_id=_text(record, "device_id"),
        session_id=_text(record, "session_id"),
        source_partition=source_partition,
        record=record,
        raw=raw,
    )
