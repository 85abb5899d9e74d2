"""Strict durations: ``"500ms"``, ``"30s"``, ``"15m"``, ``"48h"``, ``"7d"``.

A bare number is rejected on purpose: ``"15"`` is ambiguous (seconds? minutes?).
"""

from __future__ import annotations

import re

from journey_triggers.errors import ConfigError

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")


def parse_duration_ms(text: str, *, what: str = "duration", allow_zero: bool = False) -> int:
    """Return the duration ``text`` in milliseconds.

    ``what`` names the setting in the error message.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        msg = f"{what} must be a duration like '500ms', '30s', '15m', '48h' or '7d', got {text!r}"
        raise ConfigError(msg)
    value = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if value == 0 and not allow_zero:
        msg = f"{what} must be greater than zero, got {text!r}"
        raise ConfigError(msg)
    return value


def format_duration_ms(ms: int) -> str:
    """Render milliseconds in the largest unit that divides them exactly (``900000`` → ``15m``)."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
