"""Identity stitching in plain Python: which customer an anonymous event belongs to.

The job resolves identities in JVM SQL (``jobs/sql.py``, ``identity_views``); tests hold the two
equal. The rules, all in event time, so the result never depends on arrival order:

* An event's **token** is ``anon:<anonymous_id>`` when it has an anonymous id, else
  ``device:<device_id>``.
* An event that carries a ``customer_id`` belongs to that customer. If it also has a token, it
  **links** the token to the customer at its event time. A ``login`` (identify) is the usual
  link, but any event that carries both ids links them.
* An event without a ``customer_id`` belongs to, in this order:

  1. the customer of the token's **earliest link after it**, within the identity window
     ``(t, t + window]`` (only when the window is more than 0): anonymous browsing just before
     a login counts for the customer who logs in;
  2. else the customer of the token's **latest link at or before** its time: once a device or
     anonymous id is linked, its later anonymous events belong to the customer;
  3. else the token itself: the visitor stays anonymous.

* **Conflicts** (one device or anonymous id linked to two customers, a shared tablet): each
  anonymous event goes to one customer by the order above; nothing is merged across customers.
  Links at the same millisecond are ordered by customer id (the greatest wins for "latest", the
  least for "earliest").

Only on-time events take part: a late link links nothing. With a window, byte-identical copies
of one anonymous record count once (the job reduces each record's window matches to one row).
The window costs latency: every decision waits for event time to pass the window, since an
anonymous event's owner is known only then. With a window of 0 (the default), linking looks
backwards only and adds no wait.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from journey_triggers.events import ANONYMOUS_PREFIX, DEVICE_PREFIX, Event


def token(event: Event) -> str | None:
    """Return the event's anonymous token (``anon:...`` or ``device:...``), if it has one."""
    if event.anonymous_id:
        return ANONYMOUS_PREFIX + event.anonymous_id
    if event.device_id:
        return DEVICE_PREFIX + event.device_id
    return None


def resolve_identities(events: Sequence[Event], window_ms: int = 0) -> list[Event]:
    """Return ``events`` (same order) with ``customer_key`` resolved by the module's rules."""
    links: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event in events:
        event_token = token(event)
        if event.customer_id and event_token is not None:
            links[event_token].append((event.ts_ms, event.customer_id))
    for history in links.values():
        history.sort()
    resolved = []
    seen: set[tuple[str, int, str, str]] = set()
    for event in events:
        event_token = token(event)
        if event.customer_id or event_token is None:
            resolved.append(event)
            continue
        if window_ms > 0:
            # The job reduces each anonymous event's window matches to one row per record, so
            # byte-identical copies of an anonymous record count once (see the module notes).
            copy = (event.event_id, event.ts_ms, event_token, event.raw)
            if copy in seen:
                continue
            seen.add(copy)
        if event_token not in links:
            resolved.append(event)
            continue
        history = links[event_token]
        # Links strictly after t sort after every (t, customer) pair: (t, chr(0x10FFFF)) bounds it.
        after = bisect.bisect_right(history, (event.ts_ms, "\U0010ffff"))
        owner = None
        if window_ms > 0 and after < len(history) and history[after][0] <= event.ts_ms + window_ms:
            owner = history[after][1]
        elif after > 0:
            owner = history[after - 1][1]
        resolved.append(replace(event, customer_key=owner) if owner is not None else event)
    return resolved
