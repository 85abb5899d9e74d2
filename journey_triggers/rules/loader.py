"""Load rule files: YAML in, typed :class:`RuleFile` out, or errors that name file:line and rule.

Every problem in a file is reported, not only the first, e.g.::

    rules/cart.yaml:12: rule 'cart_abandoned': 'within' must be a duration like '15m', ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from journey_triggers.errors import JourneyTriggersError
from journey_triggers.rules.model import Rule, RuleFile


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rule file."""

    path: str
    line: int | None
    rule_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        who = f" rule '{self.rule_id}':" if self.rule_id else ""
        return f"{where}:{who} {self.message}"


class RuleFileError(JourneyTriggersError):
    """One or more rule files are invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class LoadedRule:
    """A valid rule and where it was defined."""

    rule: Rule
    path: str
    line: int


Path_ = tuple[str | int, ...]


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``on:`` stays the key "on".

    (YAML 1.1, PyYAML's default, reads on/off/yes/no as booleans.)
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _index_lines(node: yaml.Node, path: Path_, index: dict[Path_, int]) -> None:
    """Record the 1-based line of every mapping value and sequence item under ``node``."""
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), index)
            index[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _index_lines(item, (*path, position), index)


def _locate(loc: tuple[Any, ...], index: dict[Path_, int]) -> tuple[Path_, int | None]:
    """Map a pydantic error location to the deepest YAML path that exists, and its line.

    Union tags (``absence``, ``field``, ...) appear in pydantic locations but not in the YAML,
    and a tag can share its name with a key (the ``field`` tag of a predicate), so each part is
    either consumed or skipped. The longest path that exists wins; between equally long ones,
    the one that consumed a later part of the location (the more specific key).
    """
    best: tuple[int, int, Path_] = (0, -1, ())

    def walk(position: int, path: Path_, last: int) -> None:
        nonlocal best
        best = max(best, (len(path), last, path), key=lambda b: (b[0], b[1]))
        if position == len(loc):
            return
        candidate = (*path, loc[position])
        if candidate in index:
            walk(position + 1, candidate, position)
        walk(position + 1, path, last)

    walk(0, (), -1)
    return best[2], index.get(best[2])


def _message(error: ErrorDetails, path: Path_) -> str:
    """Turn a pydantic error into a sentence about the YAML the user wrote."""
    kind = error["type"]
    loc = error["loc"]
    if kind == "missing":
        return f"'{loc[-1]}' is required"
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if path and isinstance(path[-1], int):
        parent = next((str(p) for p in reversed(path) if isinstance(p, str)), "list")
        subject = f"'{parent}' item {path[-1] + 1}"
    else:
        subject = f"'{path[-1] if path else loc[-1] if loc else 'file'}'"
    return f"{subject}: {error['msg']}"


def _parse(path: Path) -> tuple[Any, dict[Path_, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RuleFileError([RuleProblem(str(path), None, None, f"cannot read: {err}")]) from err
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        problem = RuleProblem(str(path), line, None, f"invalid YAML: {err.problem}")
        raise RuleFileError([problem]) from err
    except yaml.YAMLError as err:
        raise RuleFileError([RuleProblem(str(path), None, None, f"invalid YAML: {err}")]) from err
    index: dict[Path_, int] = {}
    if node is not None:
        _index_lines(node, (), index)
    return data, index


def yaml_with_lines(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file (YAML 1.2 booleans); return its data and the line of every node."""
    return _parse(path)


def load_rule_file(path: str | Path) -> list[LoadedRule]:
    """Load and validate one rule file; raise :class:`RuleFileError` listing every problem."""
    file = Path(path)
    data, index = _parse(file)
    if not isinstance(data, dict):
        problem = RuleProblem(
            str(file), 1, None, "a rule file is a mapping with 'version' and 'rules'"
        )
        raise RuleFileError([problem])
    try:
        parsed = RuleFile.model_validate(data, context={"base_dir": str(file.parent)})
    except ValidationError as err:
        problems = []
        for error in err.errors(include_url=False):
            yaml_path, line = _locate(tuple(error["loc"]), index)
            rule_id = None
            if len(yaml_path) >= 2 and yaml_path[0] == "rules" and isinstance(yaml_path[1], int):
                raw = data["rules"][yaml_path[1]]
                rule_id = raw.get("id") if isinstance(raw, dict) else None
            problems.append(
                RuleProblem(
                    str(file),
                    line,
                    rule_id if isinstance(rule_id, str) else None,
                    _message(error, yaml_path),
                )
            )
        raise RuleFileError(problems) from err
    return [
        LoadedRule(rule=rule, path=str(file), line=index.get(("rules", position), 1))
        for position, rule in enumerate(parsed.rules)
    ]


def load_rules(paths: Iterable[str | Path]) -> list[LoadedRule]:
    """Load several files (directories: their ``*.yaml`` files); rule ids must be unique."""
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        files.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    problems: list[RuleProblem] = []
    loaded: list[LoadedRule] = []
    for file in files:
        try:
            loaded.extend(load_rule_file(file))
        except RuleFileError as err:
            problems.extend(err.problems)
    first: dict[str, LoadedRule] = {}
    for item in loaded:
        earlier = first.setdefault(item.rule.id, item)
        if earlier is not item:
            problems.append(
                RuleProblem(
                    item.path,
                    item.line,
                    item.rule.id,
                    f"duplicate rule id, first defined at {earlier.path}:{earlier.line}",
                )
            )
    if problems:
        raise RuleFileError(problems)
    return loaded
