"""Conditions over one event, in plain Python: the semantics the JVM engine must match.

A field is read from the raw JSON record: top-level fields by name, ``properties.<name>`` from
the properties object. A field **has a value** when it is present with a JSON scalar (string,
number or boolean); missing, ``null``, objects and arrays have none.

* Every comparison on a field without a value is **false**, ``!=`` and ``not in`` included.
  Use ``not`` with ``exists`` to say "missing or different".
* The operand's type decides the comparison:
  - a **string** matches only a JSON string with exactly that text;
  - a **number** compares numerically with a JSON number, or with a string that is written
    as a JSON number (``"12.5"``), since many trackers send numbers as strings;
  - a **boolean** matches only that JSON boolean.
* ``<``, ``<=``, ``>``, ``>=`` compare numerically; a value that is not a number is false.
* ``in`` is true when the value equals an item of the list; ``not in`` when it has a value
  and equals none. ``!=`` is true when it has a value and is not equal.
* ``exists`` is true when the field has a value.
* ``matches`` is true when a JSON string matches the regular expression in full. Use the
  syntax that Java and Python share.

The context conditions (``local_time``, ``store_distance``, ``session_dwell``) are defined in
:mod:`journey_triggers.semantics.context`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from journey_triggers.durations import parse_duration_ms
from journey_triggers.events import Event
from journey_triggers.rules.model import (
    All,
    Any_,
    Condition,
    LocalTime,
    Not,
    Predicate,
    Score,
    SessionDwell,
    StoreDistance,
)
from journey_triggers.semantics import context

PROFILE_PREFIX = "profile."
NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


class UnsupportedConditionError(ValueError):
    """A condition the event-level evaluator cannot decide (profile, score, context state)."""


def field_value(record: dict[str, Any], field: str) -> str | int | float | bool | None:
    """Return ``field``'s JSON scalar in ``record``, or ``None`` when it has no value."""
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str | int | float | bool):
        return value
    return None


def as_number(value: str | int | float | bool | None) -> float | None:
    """Return the number a value denotes (JSON number, or a string written as one), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = float(value) if abs(value) < 2**1024 else math.inf  # float() would overflow
    elif isinstance(value, float):
        number = value
    elif NUMBER.match(value):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def equals(value: str | int | float | bool, operand: str | int | float | bool) -> bool:
    """Return whether a field value equals a rule operand (see the module docstring)."""
    if isinstance(operand, bool):
        return isinstance(value, bool) and value == operand
    if isinstance(operand, int | float):
        number = as_number(value)
        return number is not None and number == float(operand)
    return isinstance(value, str) and value == operand


def _element_text(value: Any) -> str | None:
    """Return a list element's text as the job's JSON_QUERY gives it; None for null or nested."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def list_contains(record: dict[str, Any], field: str, text: str) -> bool:
    """Return whether ``field`` is a JSON array with an element whose text is ``text``."""
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return isinstance(value, list) and any(_element_text(item) == text for item in value)


def evaluate_predicate(predicate: Predicate, record: dict[str, Any]) -> bool:
    """Decide ``predicate`` on a raw record."""
    if predicate.op == "contains":
        assert isinstance(predicate.value, str)
        return list_contains(record, predicate.field, predicate.value)
    value = field_value(record, predicate.field)
    if value is None:
        return False
    op, operand = predicate.op, predicate.value
    if op == "exists":
        return True
    if op in ("=", "!="):
        assert operand is not None and not isinstance(operand, list)
        return equals(value, operand) == (op == "=")
    if op in ("in", "not in"):
        assert isinstance(operand, list)
        return any(equals(value, item) for item in operand) == (op == "in")
    if op == "matches":
        return isinstance(value, str) and re.fullmatch(str(operand), value) is not None
    number = as_number(value)
    if number is None:
        return False
    assert isinstance(operand, int | float) and not isinstance(operand, bool)
    bound = float(operand)
    if op == "<":
        return number < bound
    if op == "<=":
        return number <= bound
    if op == ">":
        return number > bound
    return number >= bound


def _local_time(condition: LocalTime, event: Event) -> bool:
    window = condition.local_time
    local = context.local_minute_and_day(event.ts_ms, field_value(event.record, "time_zone"))
    if local is None:
        return False
    minute, day = local
    if window.days is not None and day not in window.days:
        return False
    return context.in_window(minute, context.minute_of(window.start), context.minute_of(window.end))


def _store_distance(condition: StoreDistance, event: Event) -> bool:
    spec = condition.store_distance
    lat = as_number(field_value(event.record, "properties.lat"))
    lon = as_number(field_value(event.record, "properties.lon"))
    return context.near_any(lat, lon, spec.locations, spec.max_km)


def _session_dwell(condition: SessionDwell, event: Event) -> bool:
    if event.session_start_ms is None:
        return False
    return event.ts_ms - event.session_start_ms > parse_duration_ms(
        condition.session_dwell.more_than
    )


def evaluate(condition: Condition | None, event: Event) -> bool:
    """Decide a condition tree on an event; ``None`` is true."""
    if condition is None:
        return True
    if isinstance(condition, Predicate):
        if condition.field.startswith(PROFILE_PREFIX):
            if event.profile is None:
                msg = f"profile field {condition.field!r} needs the event's profile"
                raise UnsupportedConditionError(msg)
            return evaluate_predicate(condition, {"profile": event.profile})
        return evaluate_predicate(condition, event.record)
    if isinstance(condition, All):
        return all(evaluate(c, event) for c in condition.all)
    if isinstance(condition, Any_):
        return any(evaluate(c, event) for c in condition.any)
    if isinstance(condition, Not):
        return not evaluate(condition.not_, event)
    if isinstance(condition, LocalTime):
        return _local_time(condition, event)
    if isinstance(condition, StoreDistance):
        return _store_distance(condition, event)
    if isinstance(condition, SessionDwell):
        return _session_dwell(condition, event)
    if isinstance(condition, Score):
        if event.score is None:
            msg = "score conditions need a model (--model)"
            raise UnsupportedConditionError(msg)
        return event.score >= condition.score.gte
    key = next(iter(type(condition).model_fields))
    msg = f"'{key}' conditions are not supported here"
    raise UnsupportedConditionError(msg)


def conditions_of(node: object) -> list[Condition]:
    """Return every condition tree in a rule or part of one (conditions and pattern ``where``s)."""
    if isinstance(
        node, Predicate | LocalTime | StoreDistance | SessionDwell | Score | All | Any_ | Not
    ):
        return [node]
    if isinstance(node, BaseModel):
        return [c for name in type(node).model_fields for c in conditions_of(getattr(node, name))]
    if isinstance(node, list | tuple):
        return [c for item in node for c in conditions_of(item)]
    return []


def _uses(condition: Condition | None, leaf: Callable[[Condition], bool]) -> bool:
    if condition is None:
        return False
    if isinstance(condition, All):
        return any(_uses(c, leaf) for c in condition.all)
    if isinstance(condition, Any_):
        return any(_uses(c, leaf) for c in condition.any)
    if isinstance(condition, Not):
        return _uses(condition.not_, leaf)
    return leaf(condition)


def uses_session(condition: Condition | None) -> bool:
    """Return whether a condition tree has a session_dwell condition."""
    return _uses(condition, lambda c: isinstance(c, SessionDwell))


def uses_score(condition: Condition | None) -> bool:
    """Return whether a condition tree has a score condition."""
    return _uses(condition, lambda c: isinstance(c, Score))


def uses_profile(condition: Condition | None) -> bool:
    """Return whether a condition tree reads a ``profile.<field>``."""
    return _uses(
        condition, lambda c: isinstance(c, Predicate) and c.field.startswith(PROFILE_PREFIX)
    )
