"""Rule changes on the rules control topic: one message, parsed and validated.

A message is one YAML or JSON document::

    op: put                                  # put | disable | enable | remove
    effective_from: "2027-01-15T09:00:00Z"   # epoch ms or ISO-8601; default: when published
    rule:                                    # put: one rule, exactly as in a rule file
      id: browse_nudge
      version: 2
      ...

``disable``, ``enable`` and ``remove`` name the rule with ``rule_id`` instead of ``rule``.
What a change does, and the checks that need the changes before it (a ``put`` must raise the
version; the other operations need a known rule), are in
:mod:`journey_triggers.semantics.rule_changes`.
This module checks one message on its own: the shape, the rule (every check a rule file gets),
and what a live change cannot do in this job (see :func:`parse_rule_change`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from journey_triggers.errors import JourneyTriggersError
from journey_triggers.rules.model import AbsenceTrigger, InactivityTrigger, Rule
from journey_triggers.yaml_limits import ControlDocumentError, load_control_document

OPS = ("put", "disable", "enable", "remove")
"""The operations of a rule change."""
REJECT_INVALID_RULE_CHANGE = "invalid_rule_change"
"""The dead-letter reason of a message that is not a valid change on its own."""
LIVE_CATALOG_RETENTION_MS = 7 * 86_400_000
"""With a catalog and a rules topic, how long after its event time a candidate may still be
looked up (the catalog keeps its versions that long): a live rule may wait at most this long."""


class RuleChangeError(JourneyTriggersError):
    """A control message that is not a valid rule change; the message says why."""


@dataclass(frozen=True)
class RuleChange:
    """One rule change: ``rule`` for ``put``, the rule id for the others."""

    op: str
    rule_id: str
    effective_ms: int
    rule: Rule | None = None

    def to_json(self) -> str:
        """Return the change as the engine reads it (``RuleTimeline.Change``)."""
        from journey_triggers.rules.ir import lower

        document = {
            "op": self.op,
            "rule_id": self.rule_id,
            "effective_ms": self.effective_ms,
            "rule": lower(self.rule).to_json() if self.rule is not None else None,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _document(text: str) -> dict[str, Any]:
    try:
        document = load_control_document(text)
    except ControlDocumentError as err:
        msg = f"the message is {err}" if err.shape else str(err)
        raise RuleChangeError(msg) from err
    if not isinstance(document, dict):
        msg = "a rule change is a mapping with 'op' and 'rule' or 'rule_id'"
        raise RuleChangeError(msg)
    return document


def _effective_ms(value: Any, published_ms: int) -> int:
    if value is None:
        return published_ms
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            msg = f"effective_from must be >= 0, got {value}"
            raise RuleChangeError(msg)
        return value
    from journey_triggers.events import parse_timestamp_ms

    parsed = parse_timestamp_ms(value) if isinstance(value, str) else None
    if parsed is None:
        msg = f"effective_from must be epoch ms or ISO-8601 with a zone, got {value!r}"
        raise RuleChangeError(msg)
    return parsed


def _rule(value: Any) -> Rule:
    from journey_triggers.rules.loader import _message

    if not isinstance(value, dict):
        msg = "'rule' must be a mapping: one rule, as in a rule file"
        raise RuleChangeError(msg)
    try:
        return Rule.model_validate(value, context={"base_dir": "."})
    except ValidationError as err:
        problems = [
            _message(error, ("rule", *error["loc"])) for error in err.errors(include_url=False)
        ]
        rule_id = value.get("id")
        who = f"rule '{rule_id}': " if isinstance(rule_id, str) else ""
        raise RuleChangeError(who + "; ".join(problems)) from err


def catalog_wait_ms(rule: Rule) -> int:
    """Return how long after its event time the rule's candidate can be emitted."""
    from journey_triggers.durations import parse_duration_ms

    trigger = rule.trigger
    if isinstance(trigger, InactivityTrigger):
        return (parse_duration_ms(trigger.delay) if trigger.delay != "0ms" else 0) + 1
    if isinstance(trigger, AbsenceTrigger):
        return parse_duration_ms(trigger.within)
    return 0


def parse_rule_change(
    text: str,
    published_ms: int,
    *,
    catalog_retention_ms: int | None = None,
    start_rules: Sequence[Rule] | None = None,
) -> RuleChange:
    """Return the change a control message holds; raise :class:`RuleChangeError` saying why not.

    ``published_ms`` is the message's Kafka timestamp, its effective time when it states none.
    With the job's ``start_rules`` (its rule files), a live change cannot give a rule a score
    condition, nor put a new version of a start rule that has one: the job decides those after
    scoring, with conditions compiled when it starts (change such rules in the rule files and
    restart from a savepoint). Putting such a start rule again unchanged is allowed (it changes
    nothing). With a catalog (``catalog_retention_ms``), a live rule may wait at most that
    long between its event time and its decision (an absence window, an inactivity delay).
    """
    from journey_triggers.semantics.conditions import uses_score

    document = _document(text)
    unknown = sorted(set(document) - {"op", "effective_from", "rule", "rule_id"}, key=str)
    if unknown:
        msg = f"unknown key {unknown[0]!r}: a rule change has op, effective_from, rule, rule_id"
        raise RuleChangeError(msg)
    op = document.get("op")
    if op not in OPS:
        msg = f"'op' must be one of {', '.join(OPS)}, got {op!r}"
        raise RuleChangeError(msg)
    effective = _effective_ms(document.get("effective_from"), published_ms)
    if op != "put":
        rule_id = document.get("rule_id")
        if "rule" in document or not isinstance(rule_id, str) or not rule_id:
            msg = f"'{op}' names its rule with 'rule_id' (and has no 'rule')"
            raise RuleChangeError(msg)
        return RuleChange(op, rule_id, effective)
    if "rule_id" in document:
        msg = "'put' carries the whole rule in 'rule' (and has no 'rule_id')"
        raise RuleChangeError(msg)
    rule = _rule(document.get("rule"))
    start = {r.id: r for r in start_rules or ()}
    scored = uses_score(rule.conditions) or (
        rule.id in start and uses_score(start[rule.id].conditions)
    )
    if start_rules is not None and scored and start.get(rule.id) != rule:
        msg = (
            f"rule '{rule.id}': a score condition cannot be added or changed live (the job "
            "decides it after scoring, compiled at start); put the rule in the rule files and "
            "restart from a savepoint"
        )
        raise RuleChangeError(msg)
    if catalog_retention_ms is not None and catalog_wait_ms(rule) > catalog_retention_ms:
        msg = (
            f"rule '{rule.id}': waits {catalog_wait_ms(rule)} ms after its event time, longer "
            f"than the catalog keeps versions for live rules ({catalog_retention_ms} ms)"
        )
        raise RuleChangeError(msg)
    return RuleChange("put", rule.id, effective, rule)
