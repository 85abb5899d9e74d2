"""Typed models of trigger rules (the rule language), with strict validation.

A rule file is YAML::

    version: 1
    rules:
      - id: cart_abandonment
        version: 1
        description: Added to cart, no purchase within 15 minutes.
        priority: 50
        trigger:
          kind: absence
          anchor: {event: add_to_cart}
          absent: {event: purchase}
          within: 15m
        conditions:
          all:
            - {field: properties.cart_value, op: ">", value: 100}
            - {field: device_type, op: "=", value: mobile}
        output:
          action: cart_reminder_sms
          channels: [sms, email]
          payload: {cart_value: properties.cart_value}

Every model rejects unknown keys, durations are strict (``"15m"``), and every field has a
description, which the exported JSON Schema (``schemas/rules.v1.json``) carries.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from journey_triggers.durations import parse_duration_ms
from journey_triggers.errors import ConfigError
from journey_triggers.events import EVENT_TYPES
from journey_triggers.semantics.context import Store, StoreListError, read_stores

RULE_FILE_VERSION = 1
_ID = r"^[a-z][a-z0-9_]{0,63}$"
_FIELD = re.compile(
    r"^(event_type|customer_id|anonymous_id|device_id|session_id|device_type|channel|country|"
    r"time_zone|properties\.[A-Za-z_][A-Za-z0-9_]*|profile\.[A-Za-z_][A-Za-z0-9_]*)$"
)
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "exists", "matches")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("push", "email", "sms", "in_app", "web_push")


DURATION_FIELDS = ("within", "gap", "delay", "window", "min_gap", "more_than", "less_than")
"""Fields that hold a duration wherever they appear; ``delay`` alone may be zero."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator(*DURATION_FIELDS, check_fields=False)
    @classmethod
    def _durations(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _duration(value, str(info.field_name), allow_zero=info.field_name == "delay")
        return value


def _duration(value: Any, what: str, *, allow_zero: bool = False) -> int:
    if not isinstance(value, str):
        msg = f"'{what}' must be a duration like '15m', '48h' or '7d', got {value!r}"
        raise ValueError(msg)
    try:
        return parse_duration_ms(value, what=f"'{what}'", allow_zero=allow_zero)
    except ConfigError as err:
        raise ValueError(str(err)) from err


Duration = Annotated[
    str,
    Field(
        description="A duration: a whole number and a unit, ms, s, m, h or d (e.g. '15m').",
        # Checked by _Strict._durations for a precise message; the schema still carries the pattern.
        json_schema_extra={"pattern": r"^[0-9]+(ms|s|m|h|d)$"},
    ),
]


# --- Conditions -------------------------------------------------------------------------------


class Predicate(_Strict):
    """Compare an event or profile field with a value."""

    field: str = Field(
        description="Event field (event_type, device_type, country, properties.<name>, ...) or "
        "profile field (profile.<name>)."
    )
    op: Literal[
        "=", "!=", "<", "<=", ">", ">=", "in", "not in", "exists", "matches", "contains"
    ] = Field(
        description="Comparison. 'exists' takes no value; 'in'/'not in' take a list; 'matches' "
        "takes a regular expression matched against the whole value; 'contains' takes a string "
        "and holds when the field is a list with an element of that text (e.g. "
        "profile.cart_products)."
    )
    value: str | int | float | bool | list[str | int | float] | None = Field(
        default=None, description="Value to compare with."
    )

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if not _FIELD.match(value):
            msg = (
                f"unknown field {value!r}: use an event field (device_type, country, ...), "
                "properties.<name> or profile.<name>"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Predicate:
        if self.op == "exists":
            if self.value is not None:
                msg = "operator 'exists' takes no value"
                raise ValueError(msg)
        elif self.op in ("in", "not in"):
            if not isinstance(self.value, list) or not self.value:
                msg = f"operator '{self.op}' needs a non-empty list as value"
                raise ValueError(msg)
        elif self.value is None or isinstance(self.value, list):
            msg = f"operator '{self.op}' needs a single value"
            raise ValueError(msg)
        elif self.op in ("<", "<=", ">", ">=") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            msg = f"operator '{self.op}' needs a number, got {self.value!r}"
            raise ValueError(msg)
        elif self.op == "contains" and not isinstance(self.value, str):
            msg = f"operator 'contains' needs a string, got {self.value!r}"
            raise ValueError(msg)
        elif self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as err:
                msg = f"'matches' needs a valid regular expression: {err}"
                raise ValueError(msg) from err
        return self


class LocalTime(_Strict):
    """The event's local time of day (in the customer's time zone) and day of week."""

    local_time: LocalTimeWindow = Field(description="Local time-of-day window.")


class LocalTimeWindow(_Strict):
    """A local time-of-day window, e.g. 18:00–21:00 on weekdays."""

    start: str = Field(
        description="Start, HH:MM, inclusive.", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
    )
    end: str = Field(
        description="End, HH:MM, exclusive. An end before the start wraps past midnight.",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    )
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        default=None, description="Days of week (local); all days when absent."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> LocalTimeWindow:
        if self.start == self.end:
            msg = "local_time window is empty: start equals end"
            raise ValueError(msg)
        return self


class SinceLast(_Strict):
    """Recency: time since the customer's last event of a kind, at the moment of evaluation."""

    since_last: SinceLastSpec = Field(description="Recency condition.")


class SinceLastSpec(_Strict):
    """How long ago the last matching event was."""

    event: EventTypes = Field(description="Event type(s) looked for in the history.")
    more_than: Duration | None = Field(
        default=None, description="True when there was none, or the last one is older than this."
    )
    less_than: Duration | None = Field(
        default=None, description="True when the last one is at most this old."
    )

    @model_validator(mode="after")
    def _one_bound(self) -> SinceLastSpec:
        if (self.more_than is None) == (self.less_than is None):
            msg = "since_last needs exactly one of 'more_than' and 'less_than'"
            raise ValueError(msg)
        return self


class StoreDistance(_Strict):
    """Distance from the event's location to the nearest store of a store list."""

    store_distance: StoreDistanceSpec = Field(description="Store-distance condition.")


class StoreDistanceSpec(_Strict):
    """Nearest-store distance, from properties.lat / properties.lon."""

    stores: str = Field(
        description="Store list: a CSV file with the header store_id,lat,lon, relative to the "
        "rule file."
    )
    max_km: float = Field(
        gt=0, le=1000, description="True when the nearest store is at most this far."
    )
    _locations: tuple[Store, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read_stores(self, info: ValidationInfo) -> StoreDistanceSpec:
        base = (info.context or {}).get("base_dir", ".")
        try:
            self._locations = read_stores(Path(base) / self.stores)
        except StoreListError as err:
            raise ValueError(str(err)) from err
        return self

    @property
    def locations(self) -> tuple[Store, ...]:
        """The stores, read when the rule was loaded."""
        return self._locations


class Score(_Strict):
    """Purchase propensity from the scoring stage."""

    score: ScoreSpec = Field(description="Score condition.")


class ScoreSpec(_Strict):
    """A bound on a model score."""

    model: Literal["propensity"] = Field(default="propensity", description="Which score.")
    gte: float = Field(ge=0, le=1, description="True when the score is at least this.")


class SessionDwell(_Strict):
    """Time since the session's first event, at the moment of evaluation."""

    session_dwell: SessionDwellSpec = Field(description="Session dwell condition.")


class SessionDwellSpec(_Strict):
    """Session dwell bound."""

    more_than: Duration = Field(description="True when the session has lasted longer than this.")


class All(_Strict):
    """True when every condition is true."""

    all: list[Condition] = Field(min_length=1, description="Conditions that must all hold.")


class Any_(_Strict):
    """True when at least one condition is true."""

    any: list[Condition] = Field(min_length=1, description="Conditions of which one must hold.")


class Not(_Strict):
    """True when the condition is false."""

    not_: Condition = Field(alias="not", description="Condition that must not hold.")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_CONDITION_KEYS = {
    "field": Predicate,
    "local_time": LocalTime,
    "since_last": SinceLast,
    "store_distance": StoreDistance,
    "score": Score,
    "session_dwell": SessionDwell,
    "all": All,
    "any": Any_,
    "not": Not,
}


def _condition_tag(value: Any) -> str | None:
    """Pick the condition's model by the key it has, so errors name only that model."""
    if isinstance(value, dict):
        for key in _CONDITION_KEYS:
            if key in value:
                return key
        return None
    for key, model in _CONDITION_KEYS.items():
        if isinstance(value, model):
            return key
    return None


Condition = Annotated[
    Annotated[Predicate, Tag("field")]
    | Annotated[LocalTime, Tag("local_time")]
    | Annotated[SinceLast, Tag("since_last")]
    | Annotated[StoreDistance, Tag("store_distance")]
    | Annotated[Score, Tag("score")]
    | Annotated[SessionDwell, Tag("session_dwell")]
    | Annotated[All, Tag("all")]
    | Annotated[Any_, Tag("any")]
    | Annotated[Not, Tag("not")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition needs one of the keys: " + ", ".join(_CONDITION_KEYS),
    ),
]


# --- Event patterns ---------------------------------------------------------------------------


def _check_event_types(value: str | list[str]) -> str | list[str]:
    names = [value] if isinstance(value, str) else value
    if not names:
        msg = "'event' needs at least one event type"
        raise ValueError(msg)
    for name in names:
        if name not in EVENT_TYPES:
            msg = f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}"
            raise ValueError(msg)
    return value


EventTypes = Annotated[
    str | list[str],
    Field(description=f"An event type or a list of them: {', '.join(EVENT_TYPES)}."),
]


class EventPattern(_Strict):
    """Events of some types that satisfy an optional condition."""

    event: EventTypes = Field(description="Event type(s) that match.")
    where: Condition | None = Field(default=None, description="Extra condition on the event.")

    @field_validator("event")
    @classmethod
    def _types(cls, value: str | list[str]) -> str | list[str]:
        return _check_event_types(value)

    @property
    def types(self) -> tuple[str, ...]:
        """Return the event types as a tuple."""
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)


# --- Triggers ---------------------------------------------------------------------------------


class EventTrigger(_Strict):
    """Fires on every event that matches."""

    kind: Literal["event"] = Field(description="Event match.")
    on: EventPattern = Field(description="The event that fires the rule.")


class AbsenceTrigger(_Strict):
    """An anchor event, then no absent event within a window."""

    kind: Literal["absence"] = Field(description="Absence: X, then no Y within D.")
    anchor: EventPattern = Field(description="The event that starts the wait (X).")
    absent: EventPattern = Field(description="The event that must not follow (Y).")
    within: Duration = Field(description="How long to wait (D); the trigger fires at X + D.")
    correlate_on: list[str] = Field(
        default_factory=list,
        description="Fields that Y must share with X (e.g. properties.product_id).",
    )
    latest_only: bool = Field(
        default=True, description="A later X within the window supersedes an earlier one."
    )


class InactivityTrigger(_Strict):
    """The session ended (no activity for a gap) while a condition held at its last event."""

    kind: Literal["inactivity"] = Field(description="Inactivity / exit.")
    gap: Duration = Field(description="No activity for this long ends the session.")
    delay: Duration = Field(default="0ms", description="Fire this long after the session ends.")
    while_: EventPattern | None = Field(
        default=None,
        alias="while",
        description="The session must contain a matching event, e.g. add_to_cart.",
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CountTrigger(_Strict):
    """At least N matching events in a sliding event-time window, per group."""

    kind: Literal["count"] = Field(description="Count threshold.")
    on: EventPattern = Field(description="Events counted.")
    at_least: int = Field(ge=1, description="Fires when the count reaches this.")
    within: Duration = Field(description="Sliding window length.")
    group_by: list[str] = Field(
        default_factory=list, description="Count per value of these fields (e.g. product)."
    )


class SequenceStep(_Strict):
    """One step of a sequence."""

    on: EventPattern = Field(description="What the step matches.")
    at_least: int = Field(default=1, ge=1, description="Times the step must match in a row.")
    min_gap: Duration | None = Field(
        default=None, description="Minimum time since the previous step."
    )


class SequenceTrigger(_Strict):
    """Ordered steps within a total window."""

    kind: Literal["sequence"] = Field(description="Sequence.")
    steps: list[SequenceStep] = Field(min_length=2, description="Steps, in order.")
    within: Duration = Field(description="From the first step to the last.")
    same: list[str] = Field(
        default_factory=list, description="Fields every step must share (e.g. product)."
    )


class RecencyTrigger(_Strict):
    """Fires on an event when the customer's history satisfies a recency condition."""

    kind: Literal["recency"] = Field(description="Recency / negated history.")
    on: EventPattern = Field(description="The event at which history is checked.")
    since_last: SinceLastSpec = Field(description="The recency condition.")


class TrendTrigger(_Strict):
    """Counts in the recent half of a window exceed the earlier half."""

    kind: Literal["trend"] = Field(description="Trend.")
    on: EventPattern = Field(description="Events counted.")
    window: Duration = Field(description="Total window; split into two equal halves.")
    min_recent: int = Field(ge=1, description="Minimum count in the recent half.")


Trigger = Annotated[
    EventTrigger
    | AbsenceTrigger
    | InactivityTrigger
    | CountTrigger
    | SequenceTrigger
    | RecencyTrigger
    | TrendTrigger,
    Field(discriminator="kind"),
]


class Output(_Strict):
    """What a fired rule asks for."""

    action: str = Field(pattern=_ID, description="Action or campaign name.")
    channels: list[Literal["push", "email", "sms", "in_app", "web_push"]] = Field(
        min_length=1, description="Channel preferences, best first."
    )
    payload: dict[str, str] = Field(
        default_factory=dict, description="Payload fields: name -> event field to copy."
    )

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            msg = "channels must not repeat"
            raise ValueError(msg)
        return value

    @field_validator("payload")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            if not _FIELD.match(source):
                msg = f"payload field {name!r} copies unknown field {source!r}"
                raise ValueError(msg)
        return value


class Rule(_Strict):
    """One trigger rule."""

    id: str = Field(
        description="Unique id: a lower-case letter, then lower case, digits, underscores.",
        json_schema_extra={"pattern": _ID},
    )
    version: int = Field(ge=1, description="Bump on every change; decisions carry it.")
    description: str = Field(min_length=1, description="What the rule is for.")
    enabled: bool = Field(default=True, description="Disabled rules are validated, not run.")
    priority: int = Field(default=50, ge=0, le=100, description="Higher wins when rules compete.")
    trigger: Trigger = Field(description="The temporal pattern that fires the rule.")
    conditions: Condition | None = Field(
        default=None, description="Conditions at the moment the trigger fires."
    )
    output: Output = Field(description="What to do when it fires.")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.match(_ID, value):
            msg = (
                f"rule id {value!r} must start with a lower-case letter and use only lower case, "
                "digits and underscores (at most 64)"
            )
            raise ValueError(msg)
        return value


class RuleFile(_Strict):
    """A rule file."""

    version: Literal[1] = Field(description="Rule file format version.")
    rules: list[Rule] = Field(min_length=1, description="The rules.")

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                msg = f"duplicate rule id {rule.id!r}"
                raise ValueError(msg)
            seen.add(rule.id)
        return self


for _model in (
    All,
    Any_,
    Not,
    EventPattern,
    LocalTime,
    SinceLast,
    StoreDistance,
    Score,
    SessionDwell,
    RecencyTrigger,
    Rule,
):
    _model.model_rebuild()
