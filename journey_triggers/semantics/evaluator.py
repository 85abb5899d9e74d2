"""The reference evaluator: rule files over a list of events, in plain Python (no Flink).

This is the specification of every trigger kind that the job compiles to SQL; the integration
tests hold the job's decisions equal to what this module computes over the same events.
Events must be on time already (:mod:`journey_triggers.semantics.lateness`); the result is then
a function of the *set* of events, whatever their arrival order.

Kinds compiled so far:

**event**: fires on every event that matches ``on`` (types and ``where``) and the rule's
``conditions``. Its event time is the event's.

**absence**: an anchor X (matching ``anchor`` and the rule's ``conditions``) at time ``t``
fires at ``t + within`` unless the same customer has an event Y matching ``absent`` with
``t <= Y.ts <= t + within``; both ends inclusive, so a Y in the same millisecond as X, or
exactly at the deadline, cancels. With ``correlate_on``, Y must have the same values as X for
those fields, and an X without a value for one of them does not anchor. With ``latest_only``
(the default), a later X of the same customer (and same correlation values) within the window
supersedes the earlier one: one trigger per cart (or form, or product), timed from the last X.
"Later" is a larger timestamp, or the same timestamp and a larger ``event_id``. The event time
of the trigger is the deadline ``t + within``.

**inactivity**: a customer's events form sessions: two consecutive events (in time order)
belong to the same session when they are at most ``gap`` apart (a gap of exactly ``gap`` keeps
the session open, as Flink's session windows merge touching windows). A session whose events
include one matching ``while`` (any event when ``while`` is absent) fires at
``last + gap + delay``, anchored at the session's last event, when that event satisfies the
rule's ``conditions``. The last event is the greatest by (timestamp, ``event_id``, raw
record).

**count**: per customer and ``group_by`` values (events without a value for a group field do
not count), the count at event time T is the number of matching events with timestamps in
``[T - within, T]``, both ends inclusive. The rule fires at T when the events at T bring that
count from below ``at_least`` to ``at_least`` or more: once per crossing, again only after the
count has fallen below and risen again. The trigger is anchored at the greatest (``event_id``,
raw record) among the matching events at T, and the rule's ``conditions`` are checked on it.

**sequence**: per customer and ``same`` values (events without a value for one of those fields
take no part), events in (timestamp, ``event_id``, raw record) order are matched against the
steps in order; other events may come between. A step with ``at_least: n`` needs n matching
events; a step with ``min_gap`` must start at least that long after the previous step's last
event. A match must end less than ``within`` after it started (strictly: exactly ``within`` is
too late, as Flink's ``WITHIN``). Every event that matches the first step starts a candidate;
each candidate takes every step as early as it can. The first candidate to complete (the
earliest-started, when several complete on the same event) fires, anchored at its last event,
and every candidate that started at or before that event is dropped: matches never overlap
(``AFTER MATCH SKIP PAST LAST ROW``). The rule's ``conditions`` are checked on the last event.

**recency**: fires on every event E matching ``on`` (and the rule's ``conditions``) when the
customer's history satisfies ``since_last``. The history at E is every event of the
``since_last`` types with a timestamp at or before E's (events in the same millisecond count,
E itself included). ``more_than: D`` holds when there is none, or the latest is more than D
before E (strictly); ``less_than: D`` holds when the latest is at most D before E. The event
time is E's.

**trend**: at every event E matching ``on`` (at time T), with H = ``window`` / 2: ``recent`` is
the number of the customer's matching events in ``[T - H, T]`` and ``previous`` the number in
``[T - window, T - H)``. It fires at E when ``recent >= min_recent`` and ``recent > previous``
(and the rule's ``conditions`` hold on E): on every such event, not once per crossing; a
cooldown in the decision policy keeps that from over-messaging.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from journey_triggers.catalog import Catalog
from journey_triggers.decisions import STATUS_FIRED, Decision, decision_id
from journey_triggers.durations import format_duration_ms, parse_duration_ms
from journey_triggers.events import Event, cart_products, format_timestamp_ms
from journey_triggers.rules.changes import RuleChange
from journey_triggers.rules.model import (
    AbsenceTrigger,
    CountTrigger,
    EventPattern,
    EventTrigger,
    InactivityTrigger,
    RecencyTrigger,
    Rule,
    SequenceTrigger,
    TrendTrigger,
)
from journey_triggers.semantics.conditions import (
    conditions_of,
    evaluate,
    field_value,
    uses_profile,
)
from journey_triggers.semantics.dedup import DEFAULT_DEDUP_HORIZON_MS, deduplicate
from journey_triggers.semantics.erasure import customer_of, with_epochs
from journey_triggers.semantics.identity import resolve_identities
from journey_triggers.semantics.policy import POLICY_EVENT_TYPES, entry_of
from journey_triggers.semantics.profile import with_profiles
from journey_triggers.semantics.rule_changes import rule_timeline
from udfs.features import FEATURE_NAMES, feature_vector
from udfs.model import PropensityModel


def matches(pattern: EventPattern, event: Event) -> bool:
    """Return whether ``event`` matches an event pattern (types and ``where``)."""
    return event.event_type in pattern.types and evaluate(pattern.where, event)


def payload_text(value: str | int | float | bool | None) -> str | None:
    """Return a payload value's text: strings as they are, numbers and booleans as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _decision(
    rule: Rule, anchor: Event, trigger_time_ms: int, explanation: dict[str, object]
) -> Decision:
    customer = customer_of(anchor.customer_key)
    return Decision(
        decision_id=decision_id(rule.id, rule.version, customer, anchor.event_id),
        customer_id=customer,
        rule_id=rule.id,
        rule_version=rule.version,
        status=STATUS_FIRED,
        trigger_time_ms=trigger_time_ms,
        action=rule.output.action,
        channels=list(rule.output.channels),
        payload={
            name: payload_text(field_value(anchor.record, source))
            for name, source in rule.output.payload.items()
        }
        or None,
        explanation=explanation,
        cart=cart_products(anchor.record),
        score=anchor.score,
        model_version=anchor.model_version,
        features=anchor.features,
        product_id=payload_text(field_value(anchor.record, "properties.product_id")),
        event_time_ms=_event_time(rule, anchor),
    )


def _event_time(rule: Rule, anchor: Event) -> int:
    """Return a candidate's event time: its anchor's, or an inactivity session's end - 1 ms."""
    if isinstance(rule.trigger, InactivityTrigger):
        return anchor.ts_ms + parse_duration_ms(rule.trigger.gap) - 1
    return anchor.ts_ms


def event_summary(anchor_type: str, anchor_id: str, when: str) -> str:
    """Return the one-line explanation of an event trigger (the SQL builds the same)."""
    return f"{anchor_type} {anchor_id} at {when} matched"


def _event_explanation(anchor: Event) -> dict[str, object]:
    when = format_timestamp_ms(anchor.ts_ms)
    return {
        "kind": "event",
        "summary": event_summary(anchor.event_type, anchor.event_id, when),
        "anchor_event_id": anchor.event_id,
        "anchor_event_type": anchor.event_type,
        "anchor_time": when,
        "window": None,
        "absent_event_types": None,
    }


def absence_summary(trigger: AbsenceTrigger, anchor_type: str, anchor_id: str, when: str) -> str:
    """Return the one-line explanation of an absence trigger (the SQL builds the same)."""
    absent = " or ".join(trigger.absent.types)
    same = f" with the same {', '.join(trigger.correlate_on)}" if trigger.correlate_on else ""
    return f"{anchor_type} {anchor_id} at {when} had no {absent}{same} within {trigger.within}"


def _absence_explanation(trigger: AbsenceTrigger, anchor: Event) -> dict[str, object]:
    when = format_timestamp_ms(anchor.ts_ms)
    return {
        "kind": "absence",
        "summary": absence_summary(trigger, anchor.event_type, anchor.event_id, when),
        "anchor_event_id": anchor.event_id,
        "anchor_event_type": anchor.event_type,
        "anchor_time": when,
        "window": format_duration_ms(parse_duration_ms(trigger.within)),
        "absent_event_types": list(trigger.absent.types),
    }


def _evaluate_event(rule: Rule, trigger: EventTrigger, events: Sequence[Event]) -> list[Decision]:
    return [
        _decision(rule, event, event.ts_ms, _event_explanation(event))
        for event in events
        if matches(trigger.on, event) and evaluate(rule.conditions, event)
    ]


def _correlation(event: Event, fields: Sequence[str]) -> tuple[str, ...] | None:
    """Return the event's correlation values as text (the SQL compares JSON_VALUE texts)."""
    values = tuple(payload_text(field_value(event.record, f)) for f in fields)
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def _evaluate_absence(
    rule: Rule, trigger: AbsenceTrigger, events: Sequence[Event]
) -> list[Decision]:
    window = parse_duration_ms(trigger.within)
    anchors: dict[tuple[str, tuple[str, ...]], list[Event]] = defaultdict(list)
    cancels: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for event in events:
        key = _correlation(event, trigger.correlate_on)
        if key is None:
            continue
        group = (event.customer_key, key)
        if matches(trigger.anchor, event):
            anchors[group].append(event)
        if matches(trigger.absent, event):
            cancels[group].append(event.ts_ms)
    decisions = []
    for group, group_anchors in anchors.items():
        group_anchors.sort(key=lambda e: (e.ts_ms, e.event_id))
        times = sorted(cancels.get(group, ()))
        for index, anchor in enumerate(group_anchors):
            deadline = anchor.ts_ms + window
            if bisect_right(times, deadline) > bisect_left(times, anchor.ts_ms):
                continue
            following = group_anchors[index + 1] if index + 1 < len(group_anchors) else None
            if (
                trigger.latest_only
                and following is not None
                and following.ts_ms <= deadline
                # An exact duplicate (same time and id) is not later, as in the SQL.
                and (following.ts_ms, following.event_id) > (anchor.ts_ms, anchor.event_id)
            ):
                continue
            if not evaluate(rule.conditions, anchor):
                continue
            decisions.append(
                _decision(rule, anchor, deadline, _absence_explanation(trigger, anchor))
            )
    return decisions


def inactivity_summary(
    trigger: InactivityTrigger, anchor_type: str, anchor_id: str, when: str
) -> str:
    """Return the one-line explanation of an inactivity trigger (the SQL builds the same)."""
    during = f"; the session had {' or '.join(trigger.while_.types)}" if trigger.while_ else ""
    return f"no activity for {trigger.gap} after {anchor_type} {anchor_id} at {when}{during}"


def _evaluate_inactivity(
    rule: Rule, trigger: InactivityTrigger, events: Sequence[Event]
) -> list[Decision]:
    gap = parse_duration_ms(trigger.gap)
    delay = parse_duration_ms(trigger.delay) if trigger.delay != "0ms" else 0
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_customer[event.customer_key].append(event)
    decisions = []
    for customer_events in by_customer.values():
        customer_events.sort(key=lambda e: (e.ts_ms, e.event_id, e.raw))
        sessions: list[list[Event]] = []
        for event in customer_events:
            if sessions and event.ts_ms - sessions[-1][-1].ts_ms <= gap:
                sessions[-1].append(event)
            else:
                sessions.append([event])
        for session in sessions:
            if trigger.while_ is not None and not any(matches(trigger.while_, e) for e in session):
                continue
            last = session[-1]
            if not evaluate(rule.conditions, last):
                continue
            when = format_timestamp_ms(last.ts_ms)
            explanation: dict[str, object] = {
                "kind": "inactivity",
                "summary": inactivity_summary(trigger, last.event_type, last.event_id, when),
                "anchor_event_id": last.event_id,
                "anchor_event_type": last.event_type,
                "anchor_time": when,
                "window": format_duration_ms(gap),
                "absent_event_types": None,
            }
            decisions.append(_decision(rule, last, last.ts_ms + gap + delay, explanation))
    return decisions


def count_summary(
    trigger: CountTrigger, anchor_type: str, anchor_id: str, when: str, count: str
) -> str:
    """Return the one-line explanation of a count trigger (the SQL builds the same)."""
    counted = " or ".join(trigger.on.types)
    same = f" with the same {', '.join(trigger.group_by)}" if trigger.group_by else ""
    return (
        f"{anchor_type} {anchor_id} at {when} made {count} {counted}{same} "
        f"within {trigger.within} (at least {trigger.at_least})"
    )


def _evaluate_count(rule: Rule, trigger: CountTrigger, events: Sequence[Event]) -> list[Decision]:
    window = parse_duration_ms(trigger.within)
    groups: dict[tuple[str, tuple[str, ...]], list[Event]] = defaultdict(list)
    for event in events:
        if not matches(trigger.on, event):
            continue
        key = _correlation(event, trigger.group_by)
        if key is not None:
            groups[(event.customer_key, key)].append(event)
    decisions = []
    for group_events in groups.values():
        times = sorted(e.ts_ms for e in group_events)
        at_time: dict[int, list[Event]] = defaultdict(list)
        for event in group_events:
            at_time[event.ts_ms].append(event)
        for moment in sorted(at_time):
            count = bisect_right(times, moment) - bisect_left(times, moment - window)
            if not count >= trigger.at_least > count - len(at_time[moment]):
                continue
            anchor = max(at_time[moment], key=lambda e: (e.event_id, e.raw))
            if not evaluate(rule.conditions, anchor):
                continue
            when = format_timestamp_ms(anchor.ts_ms)
            explanation: dict[str, object] = {
                "kind": "count",
                "summary": count_summary(
                    trigger, anchor.event_type, anchor.event_id, when, str(count)
                ),
                "anchor_event_id": anchor.event_id,
                "anchor_event_type": anchor.event_type,
                "anchor_time": when,
                "window": format_duration_ms(window),
                "absent_event_types": None,
            }
            decisions.append(_decision(rule, anchor, moment, explanation))
    return decisions


def sequence_summary(
    trigger: SequenceTrigger, last: tuple[str, str, str], first: tuple[str, str, str]
) -> str:
    """Return the one-line explanation of a sequence trigger (the SQL builds the same)."""
    return (
        f"{last[0]} {last[1]} at {last[2]} completed {len(trigger.steps)} steps started by "
        f"{first[0]} {first[1]} at {first[2]} within {trigger.within}"
    )


def sequence_variables(trigger: SequenceTrigger) -> list[tuple[int, int]]:
    """Return the pattern's variables as (step, repetition), in order."""
    return [(i, j) for i, step in enumerate(trigger.steps) for j in range(step.at_least)]


def _evaluate_sequence(
    rule: Rule, trigger: SequenceTrigger, events: Sequence[Event]
) -> list[Decision]:
    within = parse_duration_ms(trigger.within)
    variables = sequence_variables(trigger)
    min_gaps = [parse_duration_ms(st.min_gap) if st.min_gap else None for st in trigger.steps]
    partitions: dict[tuple[str, tuple[str, ...]], list[Event]] = defaultdict(list)
    for event in events:
        key = _correlation(event, trigger.same)
        if key is not None:
            partitions[(event.customer_key, key)].append(event)
    decisions = []
    for partition in partitions.values():
        partition.sort(key=lambda e: (e.ts_ms, e.event_id, e.raw))
        # A candidate: [first event, next variable index, events matched so far].
        candidates: list[tuple[Event, int, list[Event]]] = []
        for event in partition:
            candidates = [c for c in candidates if event.ts_ms - c[0].ts_ms < within]
            completed = None
            advanced = []
            for first, position, taken in candidates:
                step_index, repetition = variables[position]
                step = trigger.steps[step_index]
                fits = matches(step.on, event)
                gap = min_gaps[step_index]
                if fits and repetition == 0 and gap is not None:
                    fits = event.ts_ms >= taken[-1].ts_ms + gap
                if fits:
                    taken = [*taken, event]
                    position += 1
                    if position == len(variables) and completed is None:
                        completed = (first, taken)
                advanced.append((first, position, taken))
            if completed is not None:
                candidates = []  # skip past the last row: every candidate started at or before it
                first, taken = completed
                last = taken[-1]
                if evaluate(rule.conditions, last):
                    decisions.append(_sequence_decision(rule, trigger, first, last))
                continue
            candidates = advanced
            if matches(trigger.steps[0].on, event):
                candidates.append((event, 1, [event]))
    return decisions


def _sequence_decision(rule: Rule, trigger: SequenceTrigger, first: Event, last: Event) -> Decision:
    last_when = format_timestamp_ms(last.ts_ms)
    first_when = format_timestamp_ms(first.ts_ms)
    explanation: dict[str, object] = {
        "kind": "sequence",
        "summary": sequence_summary(
            trigger,
            (last.event_type, last.event_id, last_when),
            (first.event_type, first.event_id, first_when),
        ),
        "anchor_event_id": last.event_id,
        "anchor_event_type": last.event_type,
        "anchor_time": last_when,
        "window": format_duration_ms(parse_duration_ms(trigger.within)),
        "absent_event_types": None,
    }
    return _decision(rule, last, last.ts_ms, explanation)


def recency_holds(trigger: RecencyTrigger, ts_ms: int, last_ms: int | None) -> bool:
    """Return whether the history condition holds at ``ts_ms`` given the latest history time."""
    spec = trigger.since_last
    if spec.more_than is not None:
        return last_ms is None or ts_ms - last_ms > parse_duration_ms(spec.more_than)
    assert spec.less_than is not None
    return last_ms is not None and ts_ms - last_ms <= parse_duration_ms(spec.less_than)


def recency_summary(trigger: RecencyTrigger, anchor: tuple[str, str, str], last: str) -> str:
    """Return the one-line explanation of a recency trigger; ``last`` is a time or 'none'."""
    spec = trigger.since_last
    kinds = " or ".join((spec.event,) if isinstance(spec.event, str) else spec.event)
    bound = f"more than {spec.more_than}" if spec.more_than else f"at most {spec.less_than}"
    return f"{anchor[0]} {anchor[1]} at {anchor[2]}: last {kinds} {last} ({bound} before)"


def _evaluate_recency(
    rule: Rule, trigger: RecencyTrigger, events: Sequence[Event]
) -> list[Decision]:
    spec = trigger.since_last
    kinds = (spec.event,) if isinstance(spec.event, str) else tuple(spec.event)
    history: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.event_type in kinds:
            history[event.customer_key].append(event.ts_ms)
    for times in history.values():
        times.sort()
    bound = spec.more_than or spec.less_than
    assert bound is not None
    decisions = []
    for event in events:
        if not matches(trigger.on, event):
            continue
        times = history.get(event.customer_key, [])
        position = bisect_right(times, event.ts_ms)
        last_ms = times[position - 1] if position else None
        if not recency_holds(trigger, event.ts_ms, last_ms):
            continue
        if not evaluate(rule.conditions, event):
            continue
        when = format_timestamp_ms(event.ts_ms)
        last = "none" if last_ms is None else f"at {format_timestamp_ms(last_ms)}"
        explanation: dict[str, object] = {
            "kind": "recency",
            "summary": recency_summary(trigger, (event.event_type, event.event_id, when), last),
            "anchor_event_id": event.event_id,
            "anchor_event_type": event.event_type,
            "anchor_time": when,
            "window": format_duration_ms(parse_duration_ms(bound)),
            "absent_event_types": None,
        }
        decisions.append(_decision(rule, event, event.ts_ms, explanation))
    return decisions


def trend_summary(
    trigger: TrendTrigger, anchor: tuple[str, str, str], counts: tuple[str, str]
) -> str:
    """Return the one-line explanation of a trend trigger (the SQL builds the same)."""
    half = format_duration_ms(parse_duration_ms(trigger.window) // 2)
    counted = " or ".join(trigger.on.types)
    return (
        f"{anchor[0]} {anchor[1]} at {anchor[2]}: {counts[0]} {counted} in the last {half} "
        f"vs {counts[1]} in the {half} before (at least {trigger.min_recent})"
    )


def _evaluate_trend(rule: Rule, trigger: TrendTrigger, events: Sequence[Event]) -> list[Decision]:
    window = parse_duration_ms(trigger.window)
    half = window // 2
    matching = [e for e in events if matches(trigger.on, e)]
    times: dict[str, list[int]] = defaultdict(list)
    for event in matching:
        times[event.customer_key].append(event.ts_ms)
    for customer_times in times.values():
        customer_times.sort()
    decisions = []
    for event in matching:
        customer_times = times[event.customer_key]
        upto = bisect_right(customer_times, event.ts_ms)
        recent = upto - bisect_left(customer_times, event.ts_ms - half)
        previous = upto - bisect_left(customer_times, event.ts_ms - window) - recent
        if not (recent >= trigger.min_recent and recent > previous):
            continue
        if not evaluate(rule.conditions, event):
            continue
        when = format_timestamp_ms(event.ts_ms)
        explanation: dict[str, object] = {
            "kind": "trend",
            "summary": trend_summary(
                trigger, (event.event_type, event.event_id, when), (str(recent), str(previous))
            ),
            "anchor_event_id": event.event_id,
            "anchor_event_type": event.event_type,
            "anchor_time": when,
            "window": format_duration_ms(window),
            "absent_event_types": None,
        }
        decisions.append(_decision(rule, event, event.ts_ms, explanation))
    return decisions


_EVALUATORS: dict[type, Callable[[Rule, Any, Sequence[Event]], list[Decision]]] = {
    EventTrigger: _evaluate_event,
    AbsenceTrigger: _evaluate_absence,
    InactivityTrigger: _evaluate_inactivity,
    CountTrigger: _evaluate_count,
    SequenceTrigger: _evaluate_sequence,
    RecencyTrigger: _evaluate_recency,
    TrendTrigger: _evaluate_trend,
}


def with_session_starts(events: Sequence[Event]) -> list[Event]:
    """Return the events with ``session_start_ms`` set: the earliest time of their session.

    A session is a customer's events with the same ``session_id`` (see ``semantics.context``).
    """
    starts: dict[tuple[str, str], int] = {}
    for event in events:
        if event.session_id is not None:
            key = (event.customer_key, event.session_id)
            starts[key] = min(starts.get(key, event.ts_ms), event.ts_ms)
    return [
        replace(event, session_start_ms=starts[(event.customer_key, event.session_id)])
        if event.session_id is not None
        else event
        for event in events
    ]


def evaluate_rules(
    rules: Iterable[Rule],
    events: Sequence[Event],
    *,
    identity_window_ms: int = 0,
    model: PropensityModel | None = None,
    catalog: Catalog | None = None,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
    changes: Sequence[RuleChange] = (),
) -> list[Decision]:
    """Return every decision ``rules`` make over on-time ``events``, sorted by decision id.

    Copies are dropped first (``semantics.dedup``, within ``dedup_horizon_ms``). Identities are
    stitched (``semantics.identity``) with the given window, and keyed by
    erasure epoch (``semantics.erasure``). Then every event gets its session start, and its
    profile when a rule reads it or a model scores.
    With a model, every event is scored as a moment (``udfs/features.py``), and decisions
    carry their anchor's score and features.
    With a ``catalog``, decisions carry their product as of their event time.
    ``changes`` are the rules control topic's changes, in arrival order
    (``semantics.rule_changes``): each rule then runs over its activations.
    """
    activations = rule_timeline(list(rules), changes).activations
    events = prepared(
        [activation.rule for activation in activations],
        events,
        identity_window_ms=identity_window_ms,
        model=model,
        dedup_horizon_ms=dedup_horizon_ms,
    )
    decisions: list[Decision] = []
    for activation in activations:
        rule, start, end = activation.rule, activation.start_ms, activation.end_ms
        seen = events if start is None else [e for e in events if e.ts_ms >= start]
        made = _EVALUATORS[type(rule.trigger)](rule, rule.trigger, seen)
        decisions += made if end is None else [d for d in made if d.trigger_time_ms < end]
    if catalog is not None:
        decisions = [replace(d, product=product_at(catalog, d)) for d in decisions]
    return sorted(decisions, key=lambda d: (d.decision_id, d.rule_id))


def prepared(
    rules: Sequence[Rule],
    events: Sequence[Event],
    *,
    identity_window_ms: int = 0,
    model: PropensityModel | None = None,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
) -> list[Event]:
    """Return on-time ``events`` as the rules read them.

    Without copies, stitched and keyed by erasure epoch (:func:`stitched_events`), with their
    session start, their profile when a rule reads it or a model scores, and their score with a
    model.
    """
    stitched = stitched_events(events, identity_window_ms, dedup_horizon_ms)
    if model is not None or any(_reads_profile(rule) for rule in rules):
        stitched = with_profiles(stitched)  # sets the session starts too
    else:
        stitched = with_session_starts(stitched)
    return with_scores(stitched, model) if model is not None else stitched


def stitched_events(
    events: Sequence[Event],
    identity_window_ms: int = 0,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
    *,
    epochs: bool = True,
) -> list[Event]:
    """Return on-time ``events`` as every later stage reads them.

    Without copies (``semantics.dedup``), stitched (``semantics.identity``) and, with
    ``epochs``, keyed by erasure epoch (``semantics.erasure``).
    """
    unique = deduplicate(events, dedup_horizon_ms).unique
    resolved = resolve_identities(unique, identity_window_ms)
    return with_epochs(resolved) if epochs else resolved


def product_at(catalog: Catalog, decision: Decision) -> dict[str, Any] | None:
    """Return the ``product`` a decision carries (see ``journey_triggers.catalog``)."""
    if decision.product_id is None:
        return None
    entry = catalog.at(decision.product_id, decision.event_time_ms)
    return {
        "product_id": decision.product_id,
        "in_catalog": entry is not None,
        "category": entry.category if entry else None,
        "price": entry.price if entry else None,
        "margin_tier": entry.margin_tier if entry else None,
        "catalog_version_time": format_timestamp_ms(entry.version_ms) if entry else None,
    }


_READS_PROFILE: dict[int, tuple[Rule, bool]] = {}


def _reads_profile(rule: Rule) -> bool:
    """Return whether a rule reads profile fields (cached: the naive baseline asks per event)."""
    cached = _READS_PROFILE.get(id(rule))
    if cached is None or cached[0] is not rule:
        cached = (rule, any(uses_profile(c) for c in conditions_of(rule)))
        _READS_PROFILE[id(rule)] = cached
    return cached[1]


def with_scores(events: Sequence[Event], model: PropensityModel) -> list[Event]:
    """Return profiled ``events`` with their features, score and the model's version set."""
    if not events:
        return []
    matrix = [feature_vector(e.profile or {}, e.event_type, e.ts_ms) for e in events]
    scores = model.predict(np.array(matrix, dtype=np.float64)).tolist()
    return [
        replace(
            event,
            score=score,
            model_version=model.version,
            features=dict(zip(FEATURE_NAMES, row, strict=True)),
        )
        for event, row, score in zip(events, matrix, scores, strict=True)
    ]


def policy_entries(
    rules: Iterable[Rule],
    decisions: Sequence[Decision],
    events: Sequence[Event],
    *,
    identity_window_ms: int = 0,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
) -> list[tuple[str, dict[str, Any]]]:
    """Return the policy stage's inputs: the candidates with their context, and the events.

    The same inputs the job's policy stage reads (``jobs/sql.py`` ``policy_input_query``):
    each decision with its anchor's time zone, device type and channel as text, and the
    consent, erasure and delivery-feedback events under their stitched customer.
    """
    priority = {rule.id: rule.priority for rule in rules}
    anchors = {event.event_id: event for event in events}
    entries: list[tuple[str, dict[str, Any]]] = []
    for decision in decisions:
        anchor = anchors[decision.explanation["anchor_event_id"]]
        context: dict[str, Any] = {
            name: payload_text(field_value(anchor.record, name))
            for name in ("time_zone", "device_type", "channel")
        }
        context.update(anchor_ms=anchor.ts_ms, priority=priority[decision.rule_id])
        entry = {
            "kind": "candidate",
            "at": decision.trigger_time_ms,
            "record": decision.to_record(),
            "context": context,
        }
        entries.append((decision.customer_id, entry))
    for event in stitched_events(events, identity_window_ms, dedup_horizon_ms, epochs=False):
        if event.event_type in POLICY_EVENT_TYPES:
            found = entry_of(event.event_type, event.ts_ms, json.dumps(event.record))
            if found is not None:
                entries.append((event.customer_key, found))
    return entries
