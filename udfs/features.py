"""The propensity model's features: ONE definition, used by training and by the streaming job.

A feature vector describes a moment: a customer's profile as of an event (see
``journey_triggers.semantics.profile``), the event's type and its time. Training
(``journey_triggers.training``) computes it for every historical event from the reference
profile; the job's scoring UDFs (``udfs/scoring.py``) compute it for every candidate decision
from the profile the job keeps in Flink state, with this same function. A test holds the two
equal on the same events.

Times become hours (minutes within the session) before the moment; "never" and "no session"
are -1. Changing the list or a formula changes
``FEATURE_VERSION``, and a model trained on another version is refused at start.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping
from typing import Any

HOUR_MS = 3_600_000.0
MINUTE_MS = 60_000.0
ANCHOR_TYPES: tuple[str, ...] = ("product_view", "add_to_cart", "checkout_started", "email_open")

FEATURE_NAMES: tuple[str, ...] = (
    "hours_since_first_seen",
    "events",
    "sessions",
    "devices",
    "product_views",
    "add_to_carts",
    "orders",
    "revenue",
    "aov",
    "hours_since_last_purchase",
    "hours_since_last_email_open",
    "cart_value",
    "cart_items",
    "last_device_mobile",
    "minutes_in_session",
    "session_events",
    "session_add_to_carts",
    *(f"anchor_{t}" for t in ANCHOR_TYPES),
)


def _hours_since(ts_ms: int, then_ms: Any) -> float:
    return -1.0 if then_ms is None else (ts_ms - then_ms) / HOUR_MS


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def feature_vector(profile: Mapping[str, Any], event_type: str, ts_ms: int) -> list[float]:
    """Return the features of the moment ``ts_ms``, in ``FEATURE_NAMES`` order."""
    return [
        _hours_since(ts_ms, profile["first_seen_ms"]),
        _number(profile["events"]),
        _number(profile["sessions"]),
        _number(profile["devices"]),
        _number(profile["product_views"]),
        _number(profile["add_to_carts"]),
        _number(profile["orders"]),
        _number(profile["revenue"]),
        _number(profile["aov"]),
        _hours_since(ts_ms, profile["last_purchase_ms"]),
        _hours_since(ts_ms, profile["last_email_open_ms"]),
        _number(profile["cart_value"]),
        _number(profile["cart_items"]),
        1.0 if profile["last_device_type"] == "mobile" else 0.0,
        -1.0
        if profile["session_start_ms"] is None
        else (ts_ms - profile["session_start_ms"]) / MINUTE_MS,
        _number(profile["session_events"]),
        _number(profile["session_add_to_carts"]),
        *(1.0 if event_type == t else 0.0 for t in ANCHOR_TYPES),
    ]


def _fingerprint() -> str:
    source = inspect.getsource(feature_vector) + repr(FEATURE_NAMES) + repr(ANCHOR_TYPES)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


FEATURE_VERSION = _fingerprint()
"""A hash of the feature definition: models record it, and the job checks it at start."""
