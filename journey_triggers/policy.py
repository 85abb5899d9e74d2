"""Decision policy: what the job does with a detected trigger (the policy language).

A policy file is YAML (or JSON, the same document)::

    version: 7                      # an integer you raise with every change
    priority_window: 10m            # rules firing this close together compete
    default_time_zone: Europe/Berlin
    caps:
      - {max: 3, per: 24h}                        # rolling window, every channel
      - {max: 1, per: calendar_day, channel: sms} # the customer's local day
    quiet_hours: {start: "21:00", end: "08:00"}   # customer's local time
    consent_defaults: {email: true, push: true, sms: false}
    push_requires_app_activity: 30m
    fallback_within: 2h
    rules:
      cart_abandonment:
        priority: 80                # overrides the rule file's priority
        cooldown: 7d
        correlate_on: cart_id       # a payload field: one message per cart
        quiet_hours: defer          # or: suppress
      browse_reminder: {enabled: false}
    experiments:
      - id: abandon_timing
        holdout: 10                 # percent of customers who get nothing
        variants:
          - {name: fast, weight: 50, rule: cart_abandonment, content_key: short_copy}
          - {name: slow, weight: 50, rule: cart_abandonment_30m, channels: [email]}

``journey_triggers.semantics.policy`` applies it; the README documents every setting.
Every model rejects unknown keys, so a typo is an error that names the field.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from journey_triggers.durations import parse_duration_ms
from journey_triggers.errors import JourneyTriggersError
from journey_triggers.rules.model import CHANNELS
from journey_triggers.yaml_limits import ControlDocumentError, load_control_document

POLICY_FILE_VERSION = 1
_ID = r"^[a-z][a-z0-9_]{0,63}$"
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
FEEDBACK_CHANNEL = {"email_bounced": "email", "push_failed": "push", "sms_failed": "sms"}
"""Delivery-feedback event types, and the channel each reports a failure of."""


class PolicyError(JourneyTriggersError):
    """A policy document is invalid; the message names the document and the field."""


def _known_channel(channel: str) -> str:
    if channel not in CHANNELS:
        msg = f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}"
        raise ValueError(msg)
    return channel


def _duration(value: Any, what: str, *, allow_zero: bool = False) -> int:
    if not isinstance(value, str):
        msg = f"{what} must be a duration like '15m', got {value!r}"
        raise ValueError(msg)
    try:
        return parse_duration_ms(value, what=what, allow_zero=allow_zero)
    except JourneyTriggersError as err:
        raise ValueError(str(err)) from err


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapModel(_Strict):
    """At most ``max`` sends per rolling window or per local calendar day."""

    max: int = Field(ge=0, description="Sends allowed in the window (0 blocks the channel).")
    per: str = Field(description="A duration ('24h', '7d') or 'calendar_day' (local).")
    channel: str | None = Field(default=None, description="Count one channel only.")

    @field_validator("per")
    @classmethod
    def _per(cls, value: str) -> str:
        if value != "calendar_day":
            _duration(value, "per")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else _known_channel(value)


class QuietHoursModel(_Strict):
    """Local times between which nothing is sent (``start`` may be after ``end``)."""

    start: str = Field(description="HH:MM, the customer's local time.")
    end: str = Field(description="HH:MM; sending resumes at this local time.")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            msg = f"must be HH:MM (24-hour), got {value!r}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursModel:
        if self.start == self.end:
            msg = "start and end are equal: the quiet hours would be empty"
            raise ValueError(msg)
        return self


class RulePolicyModel(_Strict):
    """How one rule's triggers are handled."""

    enabled: bool = True
    priority: int | None = Field(default=None, ge=0, le=100)
    cooldown: str | None = Field(default=None, description="No repeat per key within this.")
    correlate_on: str | None = Field(
        default=None, description="Payload field whose value keys the cooldown (e.g. cart_id)."
    )
    quiet_hours: Literal["defer", "suppress"] = "defer"

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str | None) -> str | None:
        if value is not None:
            _duration(value, "cooldown")
        return value


class VariantModel(_Strict):
    """One arm of an experiment: a rule, with optional channel and content overrides."""

    name: str = Field(pattern=_ID)
    weight: int = Field(ge=1, description="Relative share of the treated customers.")
    rule: str = Field(pattern=_ID, description="The rule this arm runs.")
    channels: list[str] | None = Field(default=None, min_length=1)
    content_key: str | None = None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        for channel in value or []:
            _known_channel(channel)
        return value


class ExperimentModel(_Strict):
    """An A/B test: customers are split by hash(customer, experiment id)."""

    id: str = Field(pattern=_ID)
    holdout: float = Field(default=0, ge=0, le=100, description="Percent who get nothing.")
    variants: list[VariantModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ExperimentModel:
        names = [v.name for v in self.variants]
        rules = [v.rule for v in self.variants]
        if len(set(names)) != len(names):
            msg = f"variant names repeat: {names}"
            raise ValueError(msg)
        if len(set(rules)) != len(rules):
            msg = f"two variants run the same rule: {rules}"
            raise ValueError(msg)
        return self


class PolicyModel(_Strict):
    """A whole policy document."""

    version: int = Field(ge=0, description="Raise it with every change; decisions carry it.")
    effective_from: int | str | None = Field(
        default=None,
        description="Event time (epoch ms or ISO-8601) from which a control message applies.",
    )
    priority_window: str = "0ms"
    default_time_zone: str = "UTC"
    caps: list[CapModel] = Field(default_factory=list)
    quiet_hours: QuietHoursModel | None = None
    consent_defaults: dict[str, bool] = Field(default_factory=lambda: {c: True for c in CHANNELS})
    push_requires_app_activity: str = "30m"
    fallback_within: str = "2h"
    rules: dict[str, RulePolicyModel] = Field(default_factory=dict)
    experiments: list[ExperimentModel] = Field(default_factory=list)

    @field_validator("priority_window")
    @classmethod
    def _window(cls, value: str) -> str:
        _duration(value, "priority_window", allow_zero=True)
        return value

    @field_validator("push_requires_app_activity", "fallback_within")
    @classmethod
    def _positive(cls, value: str) -> str:
        _duration(value, "duration")
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            msg = f"unknown IANA time zone {value!r}"
            raise ValueError(msg) from err
        return value

    @field_validator("consent_defaults")
    @classmethod
    def _consent(cls, value: dict[str, bool]) -> dict[str, bool]:
        for channel in value:
            _known_channel(channel)
        return value

    @model_validator(mode="after")
    def _one_experiment_per_rule(self) -> PolicyModel:
        seen: dict[str, str] = {}
        for experiment in self.experiments:
            for variant in experiment.variants:
                other = seen.setdefault(variant.rule, experiment.id)
                if other != experiment.id:
                    msg = f"rule {variant.rule!r} is in experiments {other!r} and {experiment.id!r}"
                    raise ValueError(msg)
        ids = [e.id for e in self.experiments]
        if len(set(ids)) != len(ids):
            msg = f"experiment ids repeat: {ids}"
            raise ValueError(msg)
        return self


@dataclass(frozen=True)
class Cap:
    """A frequency cap; ``window_ms`` is None for the local calendar day."""

    max: int
    window_ms: int | None
    channel: str | None
    per: str = "calendar_day"
    """The window as the policy wrote it."""

    def describe(self) -> str:
        """Return the cap as the policy wrote it: ``3 per 24h``, ``1 per calendar_day (sms)``."""
        scope = f" ({self.channel})" if self.channel else ""
        return f"{self.max} per {self.per}{scope}"


@dataclass(frozen=True)
class RulePolicy:
    """The policy of one rule, with defaults filled in."""

    enabled: bool = True
    priority: int | None = None
    cooldown_ms: int | None = None
    correlate_on: str | None = None
    quiet_hours: str = "defer"


@dataclass(frozen=True)
class Variant:
    """An experiment arm."""

    name: str
    weight: int
    rule: str
    channels: tuple[str, ...] | None
    content_key: str | None


@dataclass(frozen=True)
class Experiment:
    """An A/B experiment."""

    id: str
    holdout_pct: float
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Policy:
    """A validated policy version."""

    version: int
    effective_from_ms: int = 0
    priority_window_ms: int = 0
    default_time_zone: str = "UTC"
    caps: tuple[Cap, ...] = ()
    quiet_start_minute: int | None = None
    quiet_end_minute: int | None = None
    consent_defaults: tuple[tuple[str, bool], ...] = tuple((c, True) for c in CHANNELS)
    push_activity_ms: int = 30 * 60_000
    fallback_within_ms: int = 2 * 3_600_000
    rules: tuple[tuple[str, RulePolicy], ...] = ()
    experiments: tuple[Experiment, ...] = ()

    def rule(self, rule_id: str) -> RulePolicy:
        """Return the policy of ``rule_id`` (the defaults when the policy does not name it)."""
        for name, policy in self.rules:
            if name == rule_id:
                return policy
        return RulePolicy()

    def consent_default(self, channel: str) -> bool:
        """Return whether ``channel`` may be used before any consent_update sets it."""
        return dict(self.consent_defaults).get(channel, False)

    def experiment_of(self, rule_id: str) -> tuple[Experiment, Variant] | None:
        """Return the experiment and arm that run ``rule_id``, if any."""
        for experiment in self.experiments:
            for variant in experiment.variants:
                if variant.rule == rule_id:
                    return experiment, variant
        return None


DEFAULT_POLICY = Policy(version=0)
"""The policy without a policy file: every trigger is sent on its first channel."""


def _minute(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _effective_ms(value: int | str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            msg = f"effective_from must be >= 0, got {value}"
            raise PolicyError(msg)
        return value
    from journey_triggers.events import parse_timestamp_ms

    parsed = parse_timestamp_ms(value)
    if parsed is None:
        msg = f"effective_from must be epoch ms or ISO-8601 with a zone, got {value!r}"
        raise PolicyError(msg)
    return parsed


def build_policy(model: PolicyModel) -> Policy:
    """Return the runtime policy of a validated document."""
    quiet = model.quiet_hours
    return Policy(
        version=model.version,
        effective_from_ms=_effective_ms(model.effective_from),
        priority_window_ms=parse_duration_ms(model.priority_window, allow_zero=True),
        default_time_zone=model.default_time_zone,
        caps=tuple(
            Cap(
                c.max,
                None if c.per == "calendar_day" else parse_duration_ms(c.per),
                c.channel,
                c.per,
            )
            for c in model.caps
        ),
        quiet_start_minute=_minute(quiet.start) if quiet else None,
        quiet_end_minute=_minute(quiet.end) if quiet else None,
        consent_defaults=tuple(sorted(model.consent_defaults.items())),
        push_activity_ms=parse_duration_ms(model.push_requires_app_activity),
        fallback_within_ms=parse_duration_ms(model.fallback_within),
        rules=tuple(
            (
                name,
                RulePolicy(
                    enabled=r.enabled,
                    priority=r.priority,
                    cooldown_ms=parse_duration_ms(r.cooldown) if r.cooldown else None,
                    correlate_on=r.correlate_on,
                    quiet_hours=r.quiet_hours,
                ),
            )
            for name, r in sorted(model.rules.items())
        ),
        experiments=tuple(
            Experiment(
                e.id,
                e.holdout,
                tuple(
                    Variant(
                        v.name,
                        v.weight,
                        v.rule,
                        tuple(v.channels) if v.channels else None,
                        v.content_key,
                    )
                    for v in e.variants
                ),
            )
            for e in model.experiments
        ),
    )


def _describe(err: ValidationError) -> str:
    problems = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(document)"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


def parse_policy(document: Any, *, source: str) -> Policy:
    """Return the policy of a parsed document; ``source`` names it in errors."""
    if not isinstance(document, dict):
        msg = f"{source}: a policy must be a mapping, got {type(document).__name__}"
        raise PolicyError(msg)
    try:
        model = PolicyModel.model_validate(document)
        return build_policy(model)
    except ValidationError as err:
        msg = f"{source}: {_describe(err)}"
        raise PolicyError(msg) from err
    except (PolicyError, JourneyTriggersError) as err:
        msg = f"{source}: {err}"
        raise PolicyError(msg) from err


def parse_policy_text(text: str, *, source: str) -> Policy:
    """Return the policy in a YAML or JSON text (a control message or a file's content).

    The document's shape is checked before it is loaded (:mod:`journey_triggers.yaml_limits`):
    a control message nested thousands deep or built of aliases is refused at once.
    """
    try:
        document = load_control_document(text)
    except ControlDocumentError as err:
        msg = f"{source}: {err} to be a policy" if err.shape else f"{source}: {err}"
        raise PolicyError(msg) from err
    return parse_policy(document, source=source)


def load_policy(path: str | Path) -> Policy:
    """Read a policy file; a missing or invalid file is a PolicyError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"{p}: cannot read the policy file: {err.strerror or err}"
        raise PolicyError(msg) from err
    return parse_policy_text(text, source=str(p))


@dataclass(frozen=True)
class PolicyBook:
    """Policy versions by the event time from which each applies (live updates).

    A control message's policy applies to everything decided at or after its
    ``effective_from``; a version must be higher than every version before it.
    """

    versions: tuple[Policy, ...] = (DEFAULT_POLICY,)

    def at(self, time_ms: int) -> Policy:
        """Return the policy in force at event time ``time_ms``."""
        starts = [p.effective_from_ms for p in self.versions]
        index = bisect_right(starts, time_ms) - 1
        return self.versions[max(index, 0)]

    def with_version(self, policy: Policy) -> PolicyBook:
        """Return the book with ``policy`` added; a stale or repeated version is an error."""
        newest = max(p.version for p in self.versions)
        if policy.version <= newest:
            msg = f"policy version {policy.version} is not newer than version {newest}"
            raise PolicyError(msg)
        ordered = sorted((*self.versions, policy), key=lambda p: (p.effective_from_ms, p.version))
        return PolicyBook(tuple(ordered))
