"""Compile rule conditions to Flink SQL boolean expressions over the raw record (``line``).

The semantics are those of :mod:`journey_triggers.semantics.conditions`; every expression is
wrapped so that it is TRUE or FALSE, never NULL (a NULL would turn ``NOT`` into NULL and let a
record through, or drop it, by three-valued logic).
"""

from __future__ import annotations

from jobs.sql import json_is_string, json_value, quote
from journey_triggers.rules.model import All, Any_, Condition, Not, Predicate
from journey_triggers.semantics.conditions import NUMBER, UnsupportedConditionError

_NUMBER_SQL = quote(NUMBER.pattern)


def _path(field: str) -> str:
    # Field names are validated by the rule model: identifiers joined by dots.
    return "$." + field


def _number(field: str) -> str:
    """Return the field as DOUBLE if it is a JSON number or a string written as one, else NULL."""
    text = json_value(_path(field))
    return f"(CASE WHEN REGEXP({text}, {_NUMBER_SQL}) THEN CAST({text} AS DOUBLE) END)"


def _double(value: float) -> str:
    return f"CAST({quote(repr(float(value)))} AS DOUBLE)"


def _equals(field: str, operand: str | int | float | bool) -> str:
    path = _path(field)
    if isinstance(operand, bool):
        literal = "[true]" if operand else "[false]"
        return (
            f"JSON_QUERY(line, {quote(path)} WITH UNCONDITIONAL ARRAY WRAPPER) = {quote(literal)}"
        )
    if isinstance(operand, int | float):
        return f"{_number(field)} = {_double(operand)}"
    return f"({json_is_string(path)} AND {json_value(path)} = {quote(operand)})"


def _has_value(field: str) -> str:
    return f"{json_value(_path(field))} IS NOT NULL"


def _predicate(predicate: Predicate) -> str:
    field, op, operand = predicate.field, predicate.op, predicate.value
    if field.startswith("profile."):
        msg = f"profile field {field!r} needs the profile stage"
        raise UnsupportedConditionError(msg)
    if op == "exists":
        return _has_value(field)
    if op in ("=", "!="):
        assert operand is not None and not isinstance(operand, list)
        equal = _equals(field, operand)
        return equal if op == "=" else f"({_has_value(field)} AND NOT COALESCE({equal}, FALSE))"
    if op in ("in", "not in"):
        assert isinstance(operand, list)
        found = " OR ".join(f"COALESCE({_equals(field, item)}, FALSE)" for item in operand)
        return f"({found})" if op == "in" else f"({_has_value(field)} AND NOT ({found}))"
    if op == "matches":
        # \z, not $: Java's $ also matches before a final newline; Python's fullmatch does not.
        regex = quote(f"^(?:{operand})\\z")
        path = _path(field)
        return f"({json_is_string(path)} AND REGEXP({json_value(path)}, {regex}))"
    assert isinstance(operand, int | float) and not isinstance(operand, bool)
    return f"{_number(field)} {op} {_double(operand)}"


def compile_condition(condition: Condition | None) -> str:
    """Return a SQL expression that is TRUE exactly when ``condition`` holds (never NULL)."""
    if condition is None:
        return "TRUE"
    if isinstance(condition, Predicate):
        return f"COALESCE({_predicate(condition)}, FALSE)"
    if isinstance(condition, All):
        return "(" + " AND ".join(compile_condition(c) for c in condition.all) + ")"
    if isinstance(condition, Any_):
        return "(" + " OR ".join(compile_condition(c) for c in condition.any) + ")"
    if isinstance(condition, Not):
        return f"(NOT {compile_condition(condition.not_)})"
    msg = f"{type(condition).__name__} conditions are not compiled yet"
    raise UnsupportedConditionError(msg)
