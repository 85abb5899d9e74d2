"""Rule fixtures: events in, expected triggers out, checked by the reference evaluator.

A fixture file (``*.test.yaml``)::

    rules: ../standard.yaml            # rule files or directories, relative to this file
    cases:
      - name: a purchase exactly at the deadline cancels
        rules: [cart_abandonment]      # optional: only these rules are evaluated
        events:
          - {event_id: a1, event_type: add_to_cart, customer_id: c1, ts: "2027-01-01T10:00:00Z"}
          - {event_id: p1, event_type: purchase, customer_id: c1, ts: "2027-01-01T10:15:00Z"}
        expect: []                     # every trigger: {rule, anchor, at}

Events are full customer events (``schemas/customer_event.v1.json``); an invalid one is an
error naming the case. ``at`` is the trigger's event time (ISO-8601 or epoch ms). A case passes
when the triggers are exactly the expected ones, in any order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journey_triggers.events import Event, Rejection, parse_event, parse_timestamp_ms
from journey_triggers.rules.loader import RuleFileError, RuleProblem, load_rules, yaml_with_lines
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.conditions import UnsupportedConditionError
from journey_triggers.semantics.evaluator import evaluate_rules

Trigger = tuple[str, str, int]


@dataclass
class CaseResult:
    """The outcome of one fixture case."""

    path: str
    line: int
    name: str
    missing: list[Trigger] = field(default_factory=list)
    unexpected: list[Trigger] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        """Return whether the case passed."""
        return self.error is None and not self.missing and not self.unexpected


def _problem(path: Path, line: int | None, message: str) -> RuleFileError:
    return RuleFileError([RuleProblem(str(path), line, None, message)])


def _trigger(entry: Any, path: Path, line: int | None) -> Trigger:
    if not isinstance(entry, dict) or set(entry) != {"rule", "anchor", "at"}:
        raise _problem(path, line, f"an expected trigger is {{rule, anchor, at}}, got {entry!r}")
    at = parse_timestamp_ms(entry["at"])
    if at is None:
        raise _problem(
            path, line, f"'at' must be ISO-8601 with a zone or epoch ms, got {entry['at']!r}"
        )
    return (str(entry["rule"]), str(entry["anchor"]), at)


def run_fixture_file(path: str | Path) -> list[CaseResult]:
    """Run every case of one fixture file."""
    file = Path(path)
    data, lines = yaml_with_lines(file)
    if not isinstance(data, dict) or "rules" not in data or "cases" not in data:
        raise _problem(file, 1, "a fixture file is a mapping with 'rules' and 'cases'")
    sources = data["rules"] if isinstance(data["rules"], list) else [data["rules"]]
    rules: dict[str, Rule] = {
        item.rule.id: item.rule for item in load_rules([file.parent / str(s) for s in sources])
    }
    if not isinstance(data["cases"], list) or not data["cases"]:
        raise _problem(file, lines.get(("cases",)), "'cases' must be a non-empty list")
    results = []
    for index, case in enumerate(data["cases"]):
        line = lines.get(("cases", index), 1)
        if not isinstance(case, dict) or not isinstance(case.get("name"), str):
            raise _problem(file, line, "every case needs a 'name'")
        result = CaseResult(str(file), line, case["name"])
        results.append(result)
        selected = case.get("rules", sorted(rules))
        unknown = [r for r in selected if r not in rules]
        if unknown:
            result.error = f"unknown rule(s) {unknown}; known: {sorted(rules)}"
            continue
        events: list[Event] = []
        for position, record in enumerate(case.get("events") or []):
            parsed = parse_event(json.dumps(record))
            if isinstance(parsed, Rejection):
                event_line = lines.get(("cases", index, "events", position), line)
                result.error = (
                    f"line {event_line}: event {position + 1} is invalid: {parsed.reason}"
                )
                break
            events.append(parsed)
        if result.error:
            continue
        expected = {_trigger(e, file, line) for e in case.get("expect") or []}
        try:
            decisions = evaluate_rules([rules[r] for r in selected], events)
        except UnsupportedConditionError as err:
            result.error = str(err)
            continue
        got = {(d.rule_id, d.explanation["anchor_event_id"], d.trigger_time_ms) for d in decisions}
        result.missing = sorted(expected - got)
        result.unexpected = sorted(got - expected)
    return results


def fixture_files(paths: list[str]) -> list[Path]:
    """Expand directories to their ``*.test.yaml`` files."""
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        files.extend(sorted(p.rglob("*.test.yaml")) if p.is_dir() else [p])
    return files


def describe(trigger: Trigger) -> str:
    """Render an expected or actual trigger for a report."""
    from journey_triggers.events import format_timestamp_ms

    rule, anchor, at = trigger
    return f"{rule} anchored at {anchor} at {format_timestamp_ms(at)}"
