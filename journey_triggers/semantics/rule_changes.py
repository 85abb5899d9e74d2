"""What rule changes do: the rules in force at each event time (the specification).

The job starts with the rules of its rule files, in force from the beginning of time. The
rules control topic then brings changes (:mod:`journey_triggers.rules.changes`), each with an
effective time E.

**Checks, in arrival order.** A change is checked against the changes accepted before it:

- ``put`` must raise the rule's version above every version of that id seen so far, including
  removed ones (decision ids carry the version). The same version with the same rule is a
  no-op (republishing a rule file changes nothing); anything else is ``stale_rule_version``.
- ``disable``, ``enable`` and ``remove`` need a rule id that is known and not removed, else
  ``unknown_rule``.

Rejected changes are dead letters with that reason; they change nothing.

**Effect, in event time.** At time t the accepted changes with E <= t apply, in (E, arrival)
order. Each rule is then a sequence of *activations*: a rule that a change puts or enables at
E is active from E, with fresh state; it stays active, with its state, until a change at E'
edits, disables or removes it. An activation over [start, end) sees the events at or after
``start`` and fires only at times before ``end``: an edited rule's pending triggers of the old
version never fire (they are dropped at their deadline), and new anchors use the new version.
A rule no change touches has one activation, so its state is kept across every change to
other rules. Identity stitching, sessions and profiles are not rule state: they cover every
event, whatever the rules were.

Effective times need not follow arrival: a ``disable``, ``enable`` or ``remove`` that takes
effect after the rule was removed (by a change that arrived earlier with an earlier time)
does nothing.

A change reaches the job through Kafka, so the job applies it from its effective time only if
it arrives before the job's event time (the watermark) passes E. Live, changes hold no event
back: a change published with the default effective time (its publication) reaches the job
within moments, long before the watermark, which trails the events by the out-of-orderness
bound, gets there; a change dated in the past applies from when it arrives (the job counts it:
``late_rule_changes``). A bounded run reads the whole topic before any event passes, so every
change applies at E. This reference applies every change at E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from journey_triggers.rules.changes import RuleChange
from journey_triggers.rules.ir import lower
from journey_triggers.rules.model import Rule

REJECT_STALE_RULE_VERSION = "stale_rule_version"
REJECT_UNKNOWN_RULE = "unknown_rule"


@dataclass(frozen=True)
class Activation:
    """A rule in force over [start_ms, end_ms) (``None``: from the start / for good)."""

    rule: Rule
    start_ms: int | None
    end_ms: int | None


@dataclass(frozen=True)
class Timeline:
    """The activations of every rule, and the rejected changes (position, reason)."""

    activations: tuple[Activation, ...]
    rejected: tuple[tuple[int, str], ...]


def check_changes(
    rules: Sequence[Rule], changes: Sequence[RuleChange]
) -> tuple[list[RuleChange], list[tuple[int, str]]]:
    """Return the accepted changes (arrival order) and the rejected ones' positions and reasons."""
    versions = {rule.id: rule.version for rule in rules}
    latest = {rule.id: lower(rule).to_json() for rule in rules}
    known = {rule.id for rule in rules}
    accepted: list[RuleChange] = []
    rejected: list[tuple[int, str]] = []
    for position, change in enumerate(changes):
        if change.op != "put":
            if change.rule_id in known:
                accepted.append(change)
                if change.op == "remove":
                    known.discard(change.rule_id)
            else:
                rejected.append(
                    (position, f"{REJECT_UNKNOWN_RULE}: no rule '{change.rule_id}' to {change.op}")
                )
            continue
        assert change.rule is not None
        seen = versions.get(change.rule_id)
        version = change.rule.version
        ir = lower(change.rule).to_json()
        if seen is None or version > seen:
            accepted.append(change)
            versions[change.rule_id] = version
            latest[change.rule_id] = ir
            known.add(change.rule_id)
        elif not (version == seen and change.rule_id in known and latest[change.rule_id] == ir):
            rejected.append(
                (
                    position,
                    f"{REJECT_STALE_RULE_VERSION}: rule '{change.rule_id}' version {version} is "
                    f"not above version {seen}; a changed rule needs a new version",
                )
            )
    return accepted, rejected


def rule_timeline(rules: Sequence[Rule], changes: Sequence[RuleChange]) -> Timeline:
    """Return the activations of ``rules`` (the rule files) under ``changes`` (arrival order)."""
    accepted, rejected = check_changes(rules, changes)
    order = sorted(range(len(accepted)), key=lambda i: (accepted[i].effective_ms, i))
    current: dict[str, Rule] = {rule.id: rule for rule in rules}
    enabled: dict[str, bool] = {rule.id: rule.enabled for rule in rules}
    started: dict[str, int | None] = {rule.id: None for rule in rules}
    activations: list[Activation] = []

    def close(rule_id: str, at: int) -> None:
        if enabled.get(rule_id):
            activations.append(Activation(current[rule_id], started[rule_id], at))

    for index in order:
        change = accepted[index]
        at, rule_id = change.effective_ms, change.rule_id
        if change.op == "put":
            assert change.rule is not None
            close(rule_id, at)
            current[rule_id], enabled[rule_id], started[rule_id] = (
                change.rule,
                change.rule.enabled,
                at,
            )
        elif rule_id not in current:
            # Removed at an earlier effective time by a change that arrived before this one.
            continue
        elif change.op == "disable":
            close(rule_id, at)
            enabled[rule_id] = False
        elif change.op == "enable":
            if not enabled[rule_id]:
                enabled[rule_id], started[rule_id] = True, at
        else:
            close(rule_id, at)
            del current[rule_id], enabled[rule_id], started[rule_id]
    for rule_id, rule in current.items():
        if enabled[rule_id]:
            activations.append(Activation(rule, started[rule_id], None))
    return Timeline(tuple(activations), tuple(rejected))
