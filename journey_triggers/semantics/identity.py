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

* **Erasure** voids links: an anonymous event at or after a customer's ``erasure_request``,
  stitched to them through a link older than the request, belongs to its own token again
  (see ``semantics.erasure``). A link at the request's time or later counts.

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
from journey_triggers.semantics.erasure import erasure_times


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
    resolved: list[tuple[Event, int | None]] = []  # with the time of the link used, if any
    seen: set[tuple[str, int, str, str]] = set()
    for event in events:
        event_token = token(event)
        if event.customer_id or event_token is None:
            resolved.append((event, None))
            continue
        if window_ms > 0:
            # The job reduces each anonymous event's window matches to one row per record, so
            # byte-identical copies of an anonymous record count once (see the module notes).
            copy = (event.event_id, event.ts_ms, event_token, event.raw)
            if copy in seen:
                continue
            seen.add(copy)
        history = links.get(event_token, [])
        # Links strictly after t sort after every (t, customer) pair: (t, chr(0x10FFFF)) bounds it.
        after = bisect.bisect_right(history, (event.ts_ms, "\U0010ffff"))
        link = None
        if window_ms > 0 and after < len(history) and history[after][0] <= event.ts_ms + window_ms:
            link = history[after]
        elif after > 0:
            link = history[after - 1]
        if link is None:
            resolved.append((event, None))
        else:
            resolved.append((replace(event, customer_key=link[1]), link[0]))
    return _void_erased_links(resolved)


def _void_erased_links(resolved: list[tuple[Event, int | None]]) -> list[Event]:
    """Return the events, those stitched through a link older than an erasure unstitched."""
    erasures = erasure_times([event for event, _ in resolved])
    out = []
    for event, link_ms in resolved:
        history = erasures.get(event.customer_key)
        if link_ms is not None and history:
            latest = bisect.bisect_right(history, event.ts_ms) - 1
            if latest >= 0 and link_ms < history[latest]:
                event_token = token(event)
                assert event_token is not None
                event = replace(event, customer_key=event_token)
        out.append(event)
    return out
