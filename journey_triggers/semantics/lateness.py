"""Which events are late, decided per source partition in arrival order.

An event is late when its timestamp is more than the allowed out-of-orderness behind the
highest timestamp seen *before it in the same source partition* (Kafka partition or file).
That depends only on each partition's order, which Kafka fixes, so it is the same in every run,
at any parallelism, live or replayed. Flink's bounded-out-of-orderness watermark is
``max_ts - bound - 1`` taken as the minimum over partitions, so an event that is on time by this
rule is never behind the job's watermark (unless a partition was marked idle; see the README).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from journey_triggers.events import Event


@dataclass(frozen=True)
class LatenessSplit:
    """Events split into on-time and late, each list in arrival order."""

    on_time: list[Event]
    late: list[Event]


def is_late(ts_ms: int, max_seen_ms: int | None, out_of_orderness_ms: int) -> bool:
    """Return whether an event at ``ts_ms`` is late, given the partition's maximum so far."""
    return max_seen_ms is not None and ts_ms < max_seen_ms - out_of_orderness_ms


def split_late(events_in_arrival_order: Iterable[Event], out_of_orderness_ms: int) -> LatenessSplit:
    """Classify events as on-time or late; see the module docstring for the rule."""
    max_seen: dict[int, int] = {}
    on_time: list[Event] = []
    late: list[Event] = []
    for event in events_in_arrival_order:
        previous = max_seen.get(event.source_partition)
        if is_late(event.ts_ms, previous, out_of_orderness_ms):
            late.append(event)
            continue
        on_time.append(event)
        max_seen[event.source_partition] = max(previous or event.ts_ms, event.ts_ms)
    return LatenessSplit(on_time=on_time, late=late)
