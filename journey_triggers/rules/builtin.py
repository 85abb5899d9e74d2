"""The rule the job runs when no rule file is given: cart abandonment."""

from __future__ import annotations

from journey_triggers.durations import format_duration_ms
from journey_triggers.rules.model import Rule


def cart_abandonment(window_ms: int = 15 * 60_000) -> Rule:
    """Return the built-in rule: add_to_cart, no purchase within the window, one per cart."""
    return Rule.model_validate(
        {
            "id": "cart_abandonment",
            "version": 1,
            "description": "Added to cart, no purchase within the window. One trigger per cart.",
            "priority": 80,
            "trigger": {
                "kind": "absence",
                "anchor": {"event": "add_to_cart"},
                "absent": {"event": "purchase"},
                "within": format_duration_ms(window_ms),
                "latest_only": True,
            },
            "output": {
                "action": "cart_reminder",
                "channels": ["push", "email"],
                "payload": {
                    "product_id": "properties.product_id",
                    "cart_value": "properties.cart_value",
                },
            },
        }
    )
