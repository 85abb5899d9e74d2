"""Absence triggers: an anchor event with no cancelling event within a window.

Cart abandonment is the default instance: ``add_to_cart`` with no ``purchase`` within 15 minutes.

The rule, stated once (the SQL in ``jobs/sql.py`` compiles exactly this):

* An anchor A (type ``anchor_type``) at time ``t`` for customer ``k`` fires at ``t + window``
  unless customer ``k`` has a cancelling event C (type in ``cancel_types``) with
  ``t <= C.ts <= t + window``. Both ends are inclusive: a purchase in the same millisecond as
  the add, or exactly at the deadline, counts as a purchase. A purchase before the add does not.
* With ``latest_only`` (the default), a later anchor of the same customer inside the window
  supersedes A: a cart gives one trigger, timed from its last add. "Later" is a larger
  timestamp, or the same timestamp and a larger ``event_id``, so ties are broken the same way
  in every run.
* The trigger's event time is the deadline, ``t + window``.

Events must already be on time (see :mod:`journey_triggers.semantics.lateness`): the result is
then a function of the *set* of events, independent of their arrival order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from journey_triggers.decisions import STATUS_FIRED, Decision, decision_id
from journey_triggers.durations import format_duration_ms
from journey_triggers.events import Event, format_timestamp_ms


@dataclass(frozen=True)
class AbsenceRule:
    """An absence rule: ``anchor_type``, then no ``cancel_types`` within ``window_ms``."""

    rule_id: str = "cart_abandonment"
    version: int = 1
    anchor_type: str = "add_to_cart"
    cancel_types: tuple[str, ...] = ("purchase",)
    window_ms: int = 15 * 60_000
    latest_only: bool = True

    def summary(self, anchor: Event) -> str:
        """Return the one-line explanation of a trigger anchored at ``anchor``."""
        cancels = " or ".join(self.cancel_types)
        return (
            f"{self.anchor_type} {anchor.event_id} at {format_timestamp_ms(anchor.ts_ms)} "
            f"had no {cancels} within {format_duration_ms(self.window_ms)}"
        )


def _supersedes(later: Event, anchor: Event) -> bool:
    return (later.ts_ms, later.event_id) > (anchor.ts_ms, anchor.event_id)


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def explain(rule: AbsenceRule, anchor: Event) -> dict[str, object]:
    """Return the explanation a decision carries: what matched, and what was absent."""
    return {
        "summary": rule.summary(anchor),
        "anchor_event_id": anchor.event_id,
        "anchor_event_type": anchor.event_type,
        "anchor_time": format_timestamp_ms(anchor.ts_ms),
        "absent_event_types": list(rule.cancel_types),
        "window": format_duration_ms(rule.window_ms),
        "product_id": _as_text(anchor.properties.get("product_id")),
        "cart_value": _as_float(anchor.properties.get("cart_value")),
    }


def detect_absence(events: Iterable[Event], rule: AbsenceRule) -> list[Decision]:
    """Return the decisions ``rule`` makes over on-time ``events``, sorted by decision id."""
    anchors: dict[str, list[Event]] = defaultdict(list)
    cancel_times: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.event_type == rule.anchor_type:
            anchors[event.customer_key].append(event)
        if event.event_type in rule.cancel_types:
            cancel_times[event.customer_key].append(event.ts_ms)
    decisions: list[Decision] = []
    for key, key_anchors in anchors.items():
        key_anchors.sort(key=lambda e: (e.ts_ms, e.event_id))
        cancels = sorted(cancel_times.get(key, ()))
        for index, anchor in enumerate(key_anchors):
            deadline = anchor.ts_ms + rule.window_ms
            if bisect_right(cancels, deadline) > bisect_left(cancels, anchor.ts_ms):
                continue
            following = key_anchors[index + 1] if index + 1 < len(key_anchors) else None
            if (
                rule.latest_only
                and following is not None
                and _supersedes(following, anchor)
                and following.ts_ms <= deadline
            ):
                continue
            decisions.append(
                Decision(
                    decision_id=decision_id(rule.rule_id, rule.version, key, anchor.event_id),
                    customer_id=key,
                    rule_id=rule.rule_id,
                    rule_version=rule.version,
                    status=STATUS_FIRED,
                    trigger_time_ms=deadline,
                    explanation=explain(rule, anchor),
                )
            )
    return sorted(decisions, key=lambda d: d.decision_id)
