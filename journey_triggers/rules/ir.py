"""The rule IR: a validated rule lowered to the small, versioned form the JVM rule engine runs.

The rule language (:mod:`journey_triggers.rules.model`) is what people write; the IR is what an
engine interprets. Lowering does the work an engine should not repeat per event:

* durations become milliseconds (the original text is kept where an explanation quotes it);
* an event pattern's types become a list, and a store list's CSV becomes its rows;
* ``reads`` lists the event types the rule can use, so an engine indexes rules by event type
  (``null``: every event, as inactivity's sessions are made of all of a customer's events);
* ``needs`` says whether the rule reads the profile, a score or the session start.

The IR is plain JSON (``to_json``); its JSON Schema is ``schemas/rule-ir.v1.json``, exported by
``python -m journey_triggers.rules.ir``. ``IR_VERSION`` changes whenever an engine could read an
IR differently; an engine refuses a version it does not know. The semantics of every kind are
those of the reference evaluator (:mod:`journey_triggers.semantics.evaluator`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field

from journey_triggers.durations import parse_duration_ms
from journey_triggers.errors import JourneyTriggersError
from journey_triggers.rules import model as m
from journey_triggers.semantics.context import minute_of

IR_VERSION: Literal[1] = 1
SCHEMA_ID = "https://journey-triggers.dev/schemas/rule-ir.v1.json"


class RuleIRError(JourneyTriggersError):
    """A validated rule uses something the IR cannot express yet."""


class _IR(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Conditions -------------------------------------------------------------------------------


class FieldCond(_IR):
    """Compare an event field (or ``profile.<name>``) with a value, as the rule language does."""

    op: Literal["field"] = "field"
    field: str = Field(description="Dotted path: an event field or profile.<name>.")
    test: Literal[
        "=", "!=", "<", "<=", ">", ">=", "in", "not in", "exists", "matches", "contains"
    ] = Field(description="The comparison.")
    value: str | int | float | bool | list[str | int | float] | None = Field(
        default=None, description="The operand; a list for 'in' and 'not in'."
    )


class AllCond(_IR):
    """True when every member holds."""

    op: Literal["all"] = "all"
    of: list[Cond] = Field(min_length=1, description="The members.")


class AnyCond(_IR):
    """True when a member holds."""

    op: Literal["any"] = "any"
    of: list[Cond] = Field(min_length=1, description="The members.")


class NotCond(_IR):
    """True when the member does not hold."""

    op: Literal["not"] = "not"
    of: Cond = Field(description="The member.")


class LocalTimeCond(_IR):
    """The event's local minute of day in ``[start_minute, end_minute)`` (wrapping) and day."""

    op: Literal["local_time"] = "local_time"
    start_minute: int = Field(ge=0, lt=1440, description="Start, minutes after local midnight.")
    end_minute: int = Field(ge=0, lt=1440, description="End (exclusive); before start: wraps.")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        description="Local days of week; null: every day."
    )


class StoreRow(_IR):
    """One store of a store list."""

    store_id: str = Field(description="The store's id.")
    lat: float = Field(description="Latitude in degrees.")
    lon: float = Field(description="Longitude in degrees.")
    kx: float = Field(
        description="Kilometres per degree of longitude at the store's latitude, as the "
        "reference computes it (so an engine need not reproduce Python's cosine bit for bit)."
    )


class StoreDistanceCond(_IR):
    """The event's properties.lat/lon within ``max_km`` of a store."""

    op: Literal["store_distance"] = "store_distance"
    max_km: float = Field(gt=0, description="Largest distance, in kilometres.")
    stores: list[StoreRow] = Field(description="The store list, read when the rule was loaded.")


class ScoreCond(_IR):
    """The model's score at the event is at least ``gte``."""

    op: Literal["score"] = "score"
    model: Literal["propensity"] = Field(description="Which score.")
    gte: float = Field(ge=0, le=1, description="Lower bound, inclusive.")


class SessionDwellCond(_IR):
    """The event is more than ``more_than_ms`` after its session's first event."""

    op: Literal["session_dwell"] = "session_dwell"
    more_than_ms: int = Field(gt=0, description="Bound, exclusive.")


Cond = Annotated[
    FieldCond
    | AllCond
    | AnyCond
    | NotCond
    | LocalTimeCond
    | StoreDistanceCond
    | ScoreCond
    | SessionDwellCond,
    Field(discriminator="op"),
]


class Pattern(_IR):
    """Events of the listed types for which ``where`` holds."""

    types: list[str] = Field(min_length=1, description="Event types that match.")
    where: Cond | None = Field(description="Extra condition on the event; null: none.")


# --- Triggers ---------------------------------------------------------------------------------


class EventIR(_IR):
    """Fires on every matching event."""

    kind: Literal["event"] = "event"
    on: Pattern


class AbsenceIR(_IR):
    """An anchor, then no ``absent`` event within ``within_ms`` (both ends inclusive)."""

    kind: Literal["absence"] = "absence"
    anchor: Pattern
    absent: Pattern
    within_ms: int = Field(gt=0)
    within_text: str = Field(description="The rule's own text, quoted by explanations.")
    correlate_on: list[str]
    latest_only: bool


class InactivityIR(_IR):
    """A session (events at most ``gap_ms`` apart) ended; fires at last + gap + delay."""

    kind: Literal["inactivity"] = "inactivity"
    gap_ms: int = Field(gt=0)
    gap_text: str = Field(description="The rule's own text, quoted by explanations.")
    delay_ms: int = Field(ge=0)
    while_: Pattern | None = Field(alias="while", description="The session must contain one.")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CountIR(_IR):
    """At least ``at_least`` matching events in ``[T - within_ms, T]``, once per crossing."""

    kind: Literal["count"] = "count"
    on: Pattern
    at_least: int = Field(ge=1)
    within_ms: int = Field(gt=0)
    within_text: str
    group_by: list[str]


class StepIR(_IR):
    """One step of a sequence."""

    on: Pattern
    at_least: int = Field(ge=1)
    min_gap_ms: int | None = Field(gt=0, description="Least time since the previous step.")


class SequenceIR(_IR):
    """Ordered steps, last less than ``within_ms`` after the first; matches never overlap."""

    kind: Literal["sequence"] = "sequence"
    steps: list[StepIR] = Field(min_length=2)
    within_ms: int = Field(gt=0)
    within_text: str
    same: list[str]


class RecencyIR(_IR):
    """Fires on a matching event when the last event of ``since_types`` is old (or recent)."""

    kind: Literal["recency"] = "recency"
    on: Pattern
    since_types: list[str] = Field(min_length=1)
    more_than_ms: int | None = Field(gt=0, description="Set for 'more_than'.")
    less_than_ms: int | None = Field(gt=0, description="Set for 'less_than'.")
    bound_text: str = Field(description="The bound as the rule wrote it.")


class TrendIR(_IR):
    """The recent half of a window holds more matching events than the half before."""

    kind: Literal["trend"] = "trend"
    on: Pattern
    window_ms: int = Field(gt=1)
    min_recent: int = Field(ge=1)


TriggerIR = Annotated[
    EventIR | AbsenceIR | InactivityIR | CountIR | SequenceIR | RecencyIR | TrendIR,
    Field(discriminator="kind"),
]


class OutputIR(_IR):
    """What a fired rule asks for."""

    action: str
    channels: list[str] = Field(min_length=1)
    payload: dict[str, str] = Field(description="Payload name -> event field copied from.")


class Needs(_IR):
    """What a rule needs besides the event's own fields."""

    profile: bool = Field(description="It reads profile.<field>.")
    score: bool = Field(description="It has a score condition (evaluated after scoring).")
    session: bool = Field(description="It has a session_dwell condition.")


class RuleIR(_IR):
    """One rule, lowered."""

    ir_version: Literal[1] = Field(description="The IR's format version.")
    id: str
    version: int = Field(ge=1)
    description: str
    enabled: bool
    priority: int = Field(ge=0, le=100)
    reads: list[str] | None = Field(
        description="Event types the rule can use, sorted; null: every event."
    )
    trigger: TriggerIR
    conditions: Cond | None
    output: OutputIR
    needs: Needs

    def to_json(self) -> dict[str, Any]:
        """Return the IR as JSON-ready data (aliases such as ``while``, nulls kept)."""
        return self.model_dump(mode="json", by_alias=True)


for _model in (AllCond, AnyCond, NotCond, Pattern, RuleIR):
    _model.model_rebuild()


# --- Lowering ---------------------------------------------------------------------------------


def _ms(text: str, *, allow_zero: bool = False) -> int:
    return parse_duration_ms(text, allow_zero=allow_zero)


def _cond(condition: m.Condition, rule_id: str) -> Cond:
    match condition:
        case m.Predicate():
            return FieldCond(field=condition.field, test=condition.op, value=condition.value)
        case m.All():
            return AllCond(of=[_cond(c, rule_id) for c in condition.all])
        case m.Any_():
            return AnyCond(of=[_cond(c, rule_id) for c in condition.any])
        case m.Not():
            return NotCond(of=_cond(condition.not_, rule_id))
        case m.LocalTime():
            window = condition.local_time
            return LocalTimeCond(
                start_minute=minute_of(window.start),
                end_minute=minute_of(window.end),
                days=list(window.days) if window.days is not None else None,
            )
        case m.StoreDistance():
            spec = condition.store_distance
            return StoreDistanceCond(
                max_km=spec.max_km,
                stores=[
                    StoreRow(store_id=s.store_id, lat=s.lat, lon=s.lon, kx=s.kx)
                    for s in spec.locations
                ],
            )
        case m.Score():
            return ScoreCond(model=condition.score.model, gte=condition.score.gte)
        case m.SessionDwell():
            return SessionDwellCond(more_than_ms=_ms(condition.session_dwell.more_than))
        case m.SinceLast():
            msg = (
                f"rule '{rule_id}': 'since_last' is a trigger here (kind: recency), not a condition"
            )
            raise RuleIRError(msg)
        case _:
            assert_never(condition)


def _optional(condition: m.Condition | None, rule_id: str) -> Cond | None:
    return None if condition is None else _cond(condition, rule_id)


def _pattern(pattern: m.EventPattern, rule_id: str) -> Pattern:
    return Pattern(types=list(pattern.types), where=_optional(pattern.where, rule_id))


def _trigger(trigger: m.Trigger, rule_id: str) -> TriggerIR:
    match trigger:
        case m.EventTrigger():
            return EventIR(on=_pattern(trigger.on, rule_id))
        case m.AbsenceTrigger():
            return AbsenceIR(
                anchor=_pattern(trigger.anchor, rule_id),
                absent=_pattern(trigger.absent, rule_id),
                within_ms=_ms(trigger.within),
                within_text=trigger.within,
                correlate_on=list(trigger.correlate_on),
                latest_only=trigger.latest_only,
            )
        case m.InactivityTrigger():
            return InactivityIR.model_validate(
                {
                    "gap_ms": _ms(trigger.gap),
                    "gap_text": trigger.gap,
                    "delay_ms": _ms(trigger.delay, allow_zero=True),
                    "while": _pattern(trigger.while_, rule_id) if trigger.while_ else None,
                }
            )
        case m.CountTrigger():
            return CountIR(
                on=_pattern(trigger.on, rule_id),
                at_least=trigger.at_least,
                within_ms=_ms(trigger.within),
                within_text=trigger.within,
                group_by=list(trigger.group_by),
            )
        case m.SequenceTrigger():
            return SequenceIR(
                steps=[
                    StepIR(
                        on=_pattern(step.on, rule_id),
                        at_least=step.at_least,
                        min_gap_ms=_ms(step.min_gap) if step.min_gap else None,
                    )
                    for step in trigger.steps
                ],
                within_ms=_ms(trigger.within),
                within_text=trigger.within,
                same=list(trigger.same),
            )
        case m.RecencyTrigger():
            spec = trigger.since_last
            bound = spec.more_than or spec.less_than
            assert bound is not None
            return RecencyIR(
                on=_pattern(trigger.on, rule_id),
                since_types=[spec.event] if isinstance(spec.event, str) else list(spec.event),
                more_than_ms=_ms(spec.more_than) if spec.more_than else None,
                less_than_ms=_ms(spec.less_than) if spec.less_than else None,
                bound_text=bound,
            )
        case m.TrendTrigger():
            return TrendIR(
                on=_pattern(trigger.on, rule_id),
                window_ms=_ms(trigger.window),
                min_recent=trigger.min_recent,
            )
        case _:
            assert_never(trigger)


def _walk(condition: Cond | None) -> list[Cond]:
    """Return every node of a condition tree."""
    match condition:
        case None:
            return []
        case AllCond() | AnyCond():
            return [condition, *(n for c in condition.of for n in _walk(c))]
        case NotCond():
            return [condition, *_walk(condition.of)]
        case _:
            return [condition]


def _patterns(trigger: TriggerIR) -> list[Pattern]:
    match trigger:
        case EventIR() | CountIR() | RecencyIR() | TrendIR():
            return [trigger.on]
        case AbsenceIR():
            return [trigger.anchor, trigger.absent]
        case InactivityIR():
            return [trigger.while_] if trigger.while_ else []
        case SequenceIR():
            return [step.on for step in trigger.steps]
        case _:
            assert_never(trigger)


def _reads(trigger: TriggerIR) -> list[str] | None:
    if isinstance(trigger, InactivityIR):
        return None
    types = {t for p in _patterns(trigger) for t in p.types}
    if isinstance(trigger, RecencyIR):
        types.update(trigger.since_types)
    return sorted(types)


def lower(rule: m.Rule) -> RuleIR:
    """Return the IR of a validated rule; raise :class:`RuleIRError` for what it cannot carry."""
    trigger = _trigger(rule.trigger, rule.id)
    conditions = _optional(rule.conditions, rule.id)
    nodes = [n for p in _patterns(trigger) for n in _walk(p.where)] + _walk(conditions)
    return RuleIR(
        ir_version=IR_VERSION,
        id=rule.id,
        version=rule.version,
        description=rule.description,
        enabled=rule.enabled,
        priority=rule.priority,
        reads=_reads(trigger),
        trigger=trigger,
        conditions=conditions,
        output=OutputIR(
            action=rule.output.action,
            channels=list(rule.output.channels),
            payload=dict(rule.output.payload),
        ),
        needs=Needs(
            profile=any(isinstance(n, FieldCond) and n.field.startswith("profile.") for n in nodes),
            score=any(isinstance(n, ScoreCond) for n in nodes),
            session=any(isinstance(n, SessionDwellCond) for n in nodes),
        ),
    )


def rule_set_json(rules: list[m.Rule]) -> str:
    """Return the IR of a rule set as one JSON document: ``{"ir_version": 1, "rules": [...]}``."""
    document = {"ir_version": IR_VERSION, "rules": [lower(rule).to_json() for rule in rules]}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def ir_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of one rule's IR."""
    schema = RuleIR.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"journey-triggers rule IR, version {IR_VERSION}",
        **schema,
    }


def ir_json_schema_text() -> str:
    """Return the schema as the committed file holds it."""
    return json.dumps(ir_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(ir_json_schema_text(), end="")
