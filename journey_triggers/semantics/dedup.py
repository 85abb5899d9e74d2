"""Deduplication: a record delivered twice counts once.

Producers deliver at least once, so the same event can arrive twice (a retried send, a
replayed offset range). Before identity stitching, the profile, any rule or the policy sees
an on-time event, the job drops its copies:

- Per customer (the record's own identity: its ``customer_id``, else its anonymous or device
  token) and ``event_id``, records are taken in (time, event id, record text) order, the
  order the rule engine uses, so arrival order never matters.
- The first is kept. A later record with the same event id at most the horizon after the kept
  one's time (``--dedup-horizon``, 24 hours by default, in event time) is a *duplicate* when
  its text is the kept one's, byte for byte: it is dropped and counted (metric
  ``duplicate_events``). Otherwise it is a *conflict*: the same id names two different events,
  and the later one is a dead letter (``conflicting_event_id``, metric
  ``conflicting_event_ids``).
- After the horizon the id is forgotten; a record with it is then a new event.

A copy that arrives after the watermark passed its time is late (the late topic), like any
late event. The job does this in ``journeytriggers.Deduplication`` (``jobs/sql.py``: between
the lateness checks and identity stitching); this module is the reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from journey_triggers.events import Event

REJECT_CONFLICTING_EVENT_ID = "conflicting_event_id"
"""The dead-letter reason of a record whose event id a different record already holds."""
DEFAULT_DEDUP_HORIZON_MS = 24 * 3_600_000
"""How long after a kept record a copy of its event id is dropped (``--dedup-horizon``)."""


@dataclass(frozen=True)
class DedupSplit:
    """On-time events split into the ones kept, the dropped copies and the conflicts.

    Each list keeps the input's order.
    """

    unique: list[Event]
    duplicates: list[Event]
    conflicts: list[Event]


def deduplicate(events: Sequence[Event], horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS) -> DedupSplit:
    """Split on-time ``events`` by the module's rules (``horizon_ms`` 0: keep every record)."""
    if horizon_ms <= 0:
        return DedupSplit(list(events), [], [])
    order = sorted(range(len(events)), key=lambda i: _order(events[i]))
    kept: dict[tuple[str, str], Event] = {}
    verdict: dict[int, str] = {}
    for index in order:
        event = events[index]
        key = (event.customer_key, event.event_id)
        first = kept.get(key)
        if first is not None and event.ts_ms - first.ts_ms <= horizon_ms:
            verdict[index] = "duplicate" if event.raw == first.raw else "conflict"
            continue
        kept[key] = event
    return DedupSplit(
        unique=[e for i, e in enumerate(events) if i not in verdict],
        duplicates=[e for i, e in enumerate(events) if verdict.get(i) == "duplicate"],
        conflicts=[e for i, e in enumerate(events) if verdict.get(i) == "conflict"],
    )


def _order(event: Event) -> tuple[int, str, str]:
    return event.ts_ms, event.event_id, event.raw
