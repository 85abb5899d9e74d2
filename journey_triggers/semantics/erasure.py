"""Erasure in the detection state, in plain Python: epochs and voided links.

The job applies these rules in JVM SQL (``jobs/sql.py``, ``_erasure_views``); the reference
evaluator applies them here, and tests hold the two equal. All are in event time, so the
result never depends on arrival order. An ``erasure_request`` at time E for customer C:

* **voids C's older links**: an anonymous event at or after E, stitched to C through a link
  made before E, belongs to its own token again (``anon:...`` or ``device:...``). A link at E
  or later counts (the customer logged in again). This rule is in ``semantics.identity``.
* **starts C's next epoch**: an event's epoch is the number of its customer's erasures at or
  before its time, and the detection state (profile, sessions, rule windows and counts) is
  keyed by ``<epoch>:<customer>``. So nothing before E counts toward a profile or a rule after
  it: a product viewed before and after an erasure is viewed once, a lifetime order count
  starts again at 0. Events of E's own millisecond, the request included, are after it.

The old epoch's state is never read again. Flink removes it when the state TTL
(``--state-ttl``) passes; without a TTL it stays in the state backend, unused.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from journey_triggers.events import Event

ERASURE_EVENT = "erasure_request"
EPOCH_SEPARATOR = ":"


def erasure_times(events: Sequence[Event]) -> dict[str, list[int]]:
    """Return each customer key's erasure times, sorted."""
    times: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.event_type == ERASURE_EVENT:
            times[event.customer_key].append(event.ts_ms)
    for history in times.values():
        history.sort()
    return times


def erasures_until(times: dict[str, list[int]], customer_key: str, ts_ms: int) -> int:
    """Return how many of the customer's erasures are at or before ``ts_ms``."""
    return bisect.bisect_right(times.get(customer_key, []), ts_ms)


def with_epochs(events: Sequence[Event]) -> list[Event]:
    """Return ``events`` (same order) keyed by ``<epoch>:<customer>`` (see the module doc)."""
    times = erasure_times(events)
    return [
        replace(
            event,
            customer_key=state_key(
                event.customer_key, erasures_until(times, event.customer_key, event.ts_ms)
            ),
        )
        for event in events
    ]


def state_key(customer_key: str, epoch: int) -> str:
    """Return the key of a customer's detection state in an epoch."""
    return f"{epoch}{EPOCH_SEPARATOR}{customer_key}"


def customer_of(key: str) -> str:
    """Return the customer of an ``<epoch>:<customer>`` state key."""
    return key.partition(EPOCH_SEPARATOR)[2]
