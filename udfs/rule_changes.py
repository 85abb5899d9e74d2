"""The rules control topic's parser as a SQL function: one message in, a change or a reason out.

Each message is parsed and checked on its own (``journey_triggers.rules.changes``); the checks
that need the changes before it are the engine's (``RuleTimeline``). The function returns
``ROW(change, effective_ms, reason)``: the change as the engine reads it and its effective time,
or the dead-letter reason (``invalid_rule_change: ...``). It never raises: any message, however
malformed, becomes one of the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journey_triggers.rules.changes import (
    REJECT_INVALID_RULE_CHANGE,
    RuleChangeError,
    parse_rule_change,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyflink.table.udf import UserDefinedScalarFunctionWrapper

    from journey_triggers.rules.model import Rule

RULE_CHANGE_FUNCTION = "jt_rule_change"
"""The SQL name of :func:`rule_change_udf`'s function."""


def result_type() -> Any:
    """Return the function's result type."""
    from pyflink.table import DataTypes

    return DataTypes.ROW(
        [
            DataTypes.FIELD("change", DataTypes.STRING()),
            DataTypes.FIELD("effective_ms", DataTypes.BIGINT()),
            DataTypes.FIELD("reason", DataTypes.STRING()),
        ]
    )


def rule_change_row(
    line: str | None,
    published_ms: int | None,
    *,
    catalog_retention_ms: int | None = None,
    start_rules: Sequence[Rule] = (),
) -> tuple[str | None, int | None, str | None]:
    """Return (change JSON, effective ms, None) for a valid message, else (None, None, reason)."""
    if line is None or not line.strip():
        return None, None, f"{REJECT_INVALID_RULE_CHANGE}: the message is empty"
    try:
        change = parse_rule_change(
            line,
            published_ms or 0,
            catalog_retention_ms=catalog_retention_ms,
            start_rules=start_rules,
        )
        return change.to_json(), change.effective_ms, None
    except RuleChangeError as err:
        return None, None, f"{REJECT_INVALID_RULE_CHANGE}: {err}"
    except Exception as err:  # noqa: BLE001 - no message may fail the job
        return None, None, f"{REJECT_INVALID_RULE_CHANGE}: {type(err).__name__}: {err}"


def rule_change_udf(
    catalog_retention_ms: int | None, start_rules: Sequence[Rule]
) -> UserDefinedScalarFunctionWrapper:
    """Return the parser as a SQL scalar function of (line, published_ms)."""
    from pyflink.common import Row
    from pyflink.table.udf import udf

    def parse(line: str | None, published_ms: int | None) -> Row:
        return Row(
            *rule_change_row(
                line,
                published_ms,
                catalog_retention_ms=catalog_retention_ms,
                start_rules=start_rules,
            )
        )

    return udf(parse, result_type=result_type(), func_type="general")
