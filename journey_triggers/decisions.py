"""Trigger decisions: the record the job writes, its deterministic id and its explanation.

The JSON Schema is ``schemas/decision.v1.json``. ``jobs/sql.py`` builds the same record in SQL,
and the integration tests compare the two field by field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from journey_triggers.events import format_timestamp_ms

DECISION_SCHEMA_VERSION = 1
STATUS_FIRED = "fired"


def decision_id(rule_id: str, rule_version: int, customer_key: str, anchor_event_id: str) -> str:
    """Return the decision's id: the same trigger always gets the same id, in any run.

    It is the first 32 hex digits of SHA-256 over ``rule_id|rule_version|customer|anchor event``,
    so a consumer can deduplicate on it across replays.
    """
    text = f"{rule_id}|{rule_version}|{customer_key}|{anchor_event_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Decision:
    """One trigger decision."""

    decision_id: str
    customer_id: str
    rule_id: str
    rule_version: int
    status: str
    trigger_time_ms: int
    action: str
    channels: list[str]
    payload: dict[str, str | None] | None
    """Fields copied from the anchor event as text; ``None`` when the rule has no payload."""
    explanation: dict[str, Any]
    cart: list[str] | None = None
    """The product ids of the anchor event's cart snapshot (``properties.cart``), if it has one."""
    score: float | None = None
    """Purchase propensity of the anchor's moment, when the job runs with a model."""
    model_version: str | None = None
    features: dict[str, float] | None = None
    """The model's inputs (``udfs/features.py``), when the job runs with a model."""
    product: dict[str, Any] | None = None
    """The anchor's product as the catalog had it at ``event_time_ms``, with a catalog."""
    product_id: str | None = field(default=None, compare=False, repr=False)
    """The anchor's ``properties.product_id`` as text (not written: ``product`` carries it)."""
    event_time_ms: int = field(default=0, compare=False, repr=False)
    """The candidate's event time, at which the catalog is read (not written)."""

    def to_record(self) -> dict[str, Any]:
        """Return the decision as the JSON object the job writes."""
        return {
            "schema_version": DECISION_SCHEMA_VERSION,
            "decision_id": self.decision_id,
            "customer_id": self.customer_id,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "status": self.status,
            "trigger_time": format_timestamp_ms(self.trigger_time_ms),
            "trigger_time_ms": self.trigger_time_ms,
            "action": self.action,
            "channels": self.channels,
            "payload": self.payload,
            "cart": self.cart,
            "explanation": self.explanation,
            "score": self.score,
            "model_version": self.model_version,
            "features": self.features,
            "product": self.product,
        }
