"""Limits on YAML documents from untrusted sources (control topics), checked before loading.

PyYAML's parser is iterative but its composer recurses once per nesting level, and aliases let
a small document stand for a huge one ("billion laughs"). A control message is a small
document, so its shape is checked on the parser's event stream first: cheap, and never a
``RecursionError`` or an exhausted worker.
"""

from __future__ import annotations

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML's safe loader where PyYAML has it (a hundred times faster on a long string)."""
MAX_YAML_DEPTH = 32
"""The deepest nesting of mappings and sequences a control document may have."""
MAX_YAML_NODES = 100_000
"""The most scalars, mappings, sequences and aliases a control document may have."""
MAX_YAML_ALIASES = 100
"""The most aliases (``*name``) a control document may use."""


class ControlDocumentError(ValueError):
    """A control message that cannot be loaded: too deep or large (``shape``), or not YAML."""

    def __init__(self, message: str, *, shape: bool = False) -> None:
        super().__init__(message)
        self.shape = shape


def load_control_document(text: str) -> object:
    """Return the YAML (or JSON) document of a control message, its shape checked first.

    Raise :class:`ControlDocumentError` saying why it cannot be loaded (its YAML errors with
    their line).
    """
    problem = yaml_shape_problem(text)
    if problem is not None:
        raise ControlDocumentError(problem, shape=True)
    try:
        return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        detail = getattr(err, "problem", None) or err
        msg = f"not valid YAML or JSON{where}: {detail}"
        raise ControlDocumentError(msg) from err


def yaml_shape_problem(text: str) -> str | None:
    """Return why ``text`` is too deep or too large to load, or ``None`` when it is not.

    Syntax errors are left to the loader, which reports them with their line.
    """
    depth = nodes = aliases = 0
    try:
        for event in yaml.parse(text, Loader=SAFE_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return f"nested more than {MAX_YAML_DEPTH} levels deep"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    return f"more than {MAX_YAML_ALIASES} aliases"
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    return f"more than {MAX_YAML_NODES} values"
    except yaml.YAMLError:
        return None
    return None
