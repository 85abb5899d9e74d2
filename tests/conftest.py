"""Shared fixtures: factories for events, so each test states only what matters to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from journey_triggers.events import Event

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000

EventFactory = Callable[..., Event]


@pytest.fixture
def make_event() -> EventFactory:
    """Return a factory of valid events with unique ids; minutes are relative to ``T0``."""
    counter = iter(range(1, 1_000_000))

    def factory(
        event_type: str,
        minute: float = 0,
        *,
        customer: str = "c1",
        event_id: str | None = None,
        partition: int = 0,
        **properties: Any,
    ) -> Event:
        event_id = event_id or f"e{next(counter):04d}"
        record = {
            "event_id": event_id,
            "event_type": event_type,
            "customer_id": customer,
            "properties": dict(properties),
        }
        return Event(
            event_id=event_id,
            event_type=event_type,
            customer_key=customer,
            ts_ms=T0 + int(minute * MINUTE),
            properties=dict(properties),
            customer_id=customer,
            source_partition=partition,
            record=record,
        )

    return factory
