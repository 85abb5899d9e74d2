from __future__ import annotations

from pathlib import Path

import pytest

from journey_triggers import cli

pytestmark = pytest.mark.integration

PACK = str(Path(__file__).resolve().parents[2] / "rules")


@pytest.mark.parametrize(
    ("rule_id", "operator"),
    [
        ("cart_abandonment", "IntervalJoin"),
        ("session_exit_with_cart", "WindowAggregate"),
        ("repeat_product_views", "OverAggregate"),
        ("jackets_then_shoes", "Match("),
        ("evening_mobile_browse", "OverAggregate"),
        ("near_store_premium", "Calc("),
    ],
)
def test_explain_plan_shows_the_jvm_operator_each_kind_compiles_to(rule_id, operator, capsys):
    assert cli.main(["explain", rule_id, "--rules", PACK, "--plan"]) == 0
    out = capsys.readouterr().out
    assert "== Optimized Execution Plan ==" in out
    assert operator in out
    # Per-event work stays in the JVM: no Python operator in the plan.
    assert "PythonCalc" not in out and "PythonGroup" not in out
