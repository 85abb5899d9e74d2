"""The unified customer profile in plain Python: what the job's profile state holds at an event.

The job computes the same fields in one OVER aggregate per customer (``jobs/sql.py``,
``profile_view``) and tests hold the two equal. A profile is **as of an event**: it covers the
customer's on-time events (after identity stitching) up to and including that event's
millisecond, whatever their arrival order. Rules read it as ``profile.<field>``; the scoring
features (``udfs/features.py``) are computed from it.

Fields (``None``, JSON ``null``, when there is nothing to report):

* ``first_seen_ms``, ``last_seen_ms``: the earliest and latest event times.
* ``events``: events so far. ``sessions``, ``devices``: distinct ``session_id`` and
  ``device_id`` values. ``product_views``, ``add_to_carts``: events of those types.
* ``last_device_type``, ``time_zone``, ``country``: the value on the latest event that has
  one (a non-empty string).
* ``orders``: purchases. ``revenue``: the sum of their values, where a purchase's value is
  ``properties.cart_value``, else ``properties.price`` (a number, or a string written as one,
  from 0 to 10^13), rounded half up to cents and summed exactly; ``aov`` is ``revenue`` per
  order. ``last_purchase_ms``: the latest purchase time.
* ``last_email_open_ms``: the latest ``email_open`` time.
* ``cart_value``, ``cart_items``: ``properties.cart_value`` / ``properties.cart_items`` of
  the latest ``add_to_cart``, ``remove_from_cart`` or ``checkout_started`` event that has the
  number, if it is later than the latest purchase; else 0 (a purchase empties the cart).
* ``cart_products``: the product ids of the latest cart snapshot (``properties.cart`` on one
  of those events, ``events.valid_cart``), in its order, if it is later than the latest
  purchase; else ``[]``.
* ``consent_email``, ``consent_sms``, ``consent_push``: the boolean in
  ``properties.consent.<channel>`` of the latest ``consent_update`` that sets it.
* ``session_start_ms``, ``session_events``, ``session_add_to_carts``: the event's own session
  (its ``session_id``): its first event time, and its events and adds to cart so far; ``None``
  for an event without a session.

"Latest" orders events by time, then event id, then the value's text (JSON booleans as
``[true]`` / ``[false]``), so ties are decided the same way in every run. (The job renders a
number's text as the JVM does; for conflicting duplicates, the same event id at the same
millisecond with different numbers of 10^7 or more, the JVM's ``1.0E7`` and Python's
``10000000.0`` can order the other way.) The tracker's cart totals and snapshots are trusted as
sent: the profile takes the cart as the tracker last reported it, and does not rebuild it from
adds and removes (a lost or reordered event would corrupt a rebuilt cart for good).
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from journey_triggers.events import Event, cart_products
from journey_triggers.semantics.conditions import as_number, field_value

PROFILE_FIELDS: tuple[str, ...] = (
    "first_seen_ms",
    "last_seen_ms",
    "events",
    "sessions",
    "devices",
    "product_views",
    "add_to_carts",
    "last_device_type",
    "time_zone",
    "country",
    "orders",
    "revenue",
    "aov",
    "last_purchase_ms",
    "last_email_open_ms",
    "cart_value",
    "cart_items",
    "cart_products",
    "consent_email",
    "consent_sms",
    "consent_push",
    "session_start_ms",
    "session_events",
    "session_add_to_carts",
)
CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms", "push")
CART_EVENTS: tuple[str, ...] = ("add_to_cart", "remove_from_cart", "checkout_started")
TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("last_device_type", "device_type"),
    ("time_zone", "time_zone"),
    ("country", "country"),
)
MAX_ORDER_VALUE = 1e13


def order_cents(record: dict[str, Any]) -> int:
    """Return a purchase's value in cents (see the module docstring); 0 when it has none."""
    for name in ("properties.cart_value", "properties.price"):
        value = as_number(field_value(record, name))
        if value is not None:
            if 0 <= value <= MAX_ORDER_VALUE:
                return math.floor(value * 100 + 0.5)
            return 0
    return 0


def _text(record: dict[str, Any], name: str) -> str | None:
    value = field_value(record, name)
    return value if isinstance(value, str) and value else None


def _later(current: int | None, ts_ms: int) -> int:
    return ts_ms if current is None else max(current, ts_ms)


Latest = tuple[int, str, str]
"""An event's place in "latest" order: (time, event id, value text)."""


def _value_text(value: Any) -> str:
    """Return a value's text as the job's JSON_VALUE / JSON_QUERY gives it (for ties)."""
    if isinstance(value, bool):
        return "[true]" if value else "[false]"
    if isinstance(value, str):
        return value
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class _State:
    times: list[int] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cents: int = 0
    last: dict[str, tuple[Latest, Any]] = field(default_factory=dict)
    last_purchase_ms: int | None = None
    last_email_open_ms: int | None = None

    def take(self, name: str, event: Event, value: Any, text: Any = None) -> None:
        place = (event.ts_ms, event.event_id, _value_text(value if text is None else text))
        if name not in self.last or self.last[name][0] < place:
            self.last[name] = (place, value)

    def add(self, event: Event) -> None:
        record, kind = event.record, event.event_type
        self.times.append(event.ts_ms)
        self.counts[kind] += 1
        if event.session_id:
            self.sessions.add(event.session_id)
        if event.device_id:
            self.devices.add(event.device_id)
        for name, source in TEXT_FIELDS:
            text = _text(record, source)
            if text is not None:
                self.take(name, event, text)
        if kind == "purchase":
            self.cents += order_cents(record)
            self.last_purchase_ms = _later(self.last_purchase_ms, event.ts_ms)
        if kind == "email_open":
            self.last_email_open_ms = _later(self.last_email_open_ms, event.ts_ms)
        if kind in CART_EVENTS:
            for name in ("cart_value", "cart_items"):
                raw = field_value(record, "properties." + name)
                number = as_number(raw)
                if number is not None:
                    self.take(name, event, number, raw)
            products = cart_products(record)
            if products is not None:
                # Ties compare the ids' JSON text as the job's JSON_QUERY writes it.
                text = json.dumps(products, separators=(",", ":"), ensure_ascii=False)
                self.take("cart_products", event, products, text)
        if kind == "consent_update":
            for channel in CONSENT_CHANNELS:
                flag = field_value(record, "properties.consent." + channel)
                if isinstance(flag, bool):
                    self.take("consent_" + channel, event, flag)

    def _cart(self, name: str) -> Any:
        """Return the latest cart field, or ``None`` if it predates the latest purchase."""
        if name not in self.last:
            return None
        (ts_ms, _, _), value = self.last[name]
        if self.last_purchase_ms is not None and ts_ms <= self.last_purchase_ms:
            return None
        return value

    def profile(self) -> dict[str, Any]:
        orders = self.counts["purchase"]
        latest = {name: self.last[name][1] if name in self.last else None for name in self.last}
        return {
            "first_seen_ms": min(self.times),
            "last_seen_ms": max(self.times),
            "events": len(self.times),
            "sessions": len(self.sessions),
            "devices": len(self.devices),
            "product_views": self.counts["product_view"],
            "add_to_carts": self.counts["add_to_cart"],
            **{name: latest.get(name) for name, _ in TEXT_FIELDS},
            "orders": orders,
            "revenue": self.cents / 100,
            "aov": self.cents / orders / 100 if orders else None,
            "last_purchase_ms": self.last_purchase_ms,
            "last_email_open_ms": self.last_email_open_ms,
            "cart_value": float(self._cart("cart_value") or 0.0),
            "cart_items": float(self._cart("cart_items") or 0.0),
            "cart_products": list(self._cart("cart_products") or []),
            **{f"consent_{c}": latest.get(f"consent_{c}") for c in CONSENT_CHANNELS},
        }


def _session_counts(events: Sequence[Event]) -> dict[int, tuple[int, int]]:
    """Return, per index of an event with a session, its session's (events, adds) so far.

    "So far" includes every event of the session's same millisecond, as the job's RANGE frame.
    """
    sessions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        if event.session_id is not None:
            sessions[(event.customer_key, event.session_id)].append(index)
    counts: dict[int, tuple[int, int]] = {}
    for indices in sessions.values():
        indices.sort(key=lambda i: events[i].ts_ms)
        times = [events[i].ts_ms for i in indices]
        adds = list(
            itertools.accumulate(int(events[i].event_type == "add_to_cart") for i in indices)
        )
        for i in indices:
            upto = bisect.bisect_right(times, events[i].ts_ms)
            counts[i] = (upto, adds[upto - 1])
    return counts


def with_profiles(events: Sequence[Event]) -> list[Event]:
    """Return ``events`` (same order) with ``profile`` set: the profile as of each event.

    The events get their ``session_start_ms`` too (``evaluator.with_session_starts``).
    """
    from journey_triggers.semantics.evaluator import with_session_starts

    events = with_session_starts(events)
    by_customer: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        by_customer[event.customer_key].append(index)
    sessions = _session_counts(events)
    profiles: dict[int, dict[str, Any]] = {}
    for indices in by_customer.values():
        indices.sort(key=lambda i: events[i].ts_ms)
        state = _State()
        position = 0
        while position < len(indices):
            # Every event of the same millisecond sees the same profile, all of them included.
            ts_ms = events[indices[position]].ts_ms
            end = position
            while end < len(indices) and events[indices[end]].ts_ms == ts_ms:
                state.add(events[indices[end]])
                end += 1
            snapshot = state.profile()
            for i in indices[position:end]:
                session_events, session_adds = sessions.get(i, (None, None))
                profiles[i] = {
                    **snapshot,
                    "session_start_ms": events[i].session_start_ms,
                    "session_events": session_events,
                    "session_add_to_carts": session_adds,
                }
            position = end
    return [replace(event, profile=profiles[i]) for i, event in enumerate(events)]
