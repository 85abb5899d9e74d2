"""The product catalog: records, their validation, and which version a decision sees.

A catalog record is one JSON object per line (a file) or per Kafka record (a compacted topic
keyed by product id works; so does any topic)::

    {"product_id": "p0042", "category": "shoes", "price": 59.9, "margin_tier": "high",
     "updated_at": "2027-01-03T00:00:00Z"}

* ``product_id``: a non-empty string (required).
* ``category``, ``margin_tier``: strings, optional.
* ``price``: a number (or a string written as one), optional.
* ``updated_at``: when this version takes effect, in the event ``ts`` formats (epoch ms or
  ISO-8601 with a zone); absent means "always" (epoch 0).

A record that breaks these rules goes to the dead-letter topic with the reason
``invalid_catalog_record``. The job joins each candidate decision with the version of its
anchor's ``properties.product_id`` that was in effect at the candidate's event time (an
event-time temporal join, ``jobs/sql.py``): the latest version with ``updated_at`` at or before
that time. Two versions of one product with the same ``updated_at``: the one read later wins.
The candidate's event time is its anchor event's time, except for inactivity rules, where it is
the session's end (the last event's time plus the gap, minus 1 ms).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from journey_triggers.events import load_json, parse_timestamp_ms
from journey_triggers.semantics.conditions import as_number

REJECT_INVALID_CATALOG_RECORD = "invalid_catalog_record"


@dataclass(frozen=True)
class CatalogEntry:
    """One version of one product."""

    product_id: str
    category: str | None
    price: float | None
    margin_tier: str | None
    version_ms: int


def _optional_text(record: dict[str, Any], name: str) -> tuple[bool, str | None]:
    value = record.get(name)
    if value is None:
        return True, None
    return isinstance(value, str), value if isinstance(value, str) else None


def parse_catalog_record(raw: str) -> CatalogEntry | None:
    """Return the catalog entry in ``raw``, or ``None`` when it is invalid (a dead letter)."""
    try:
        record = load_json(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    product_id = record.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        return None
    ok_category, category = _optional_text(record, "category")
    ok_tier, margin_tier = _optional_text(record, "margin_tier")
    price_value = record.get("price")
    price = None
    if price_value is not None:
        price = as_number(price_value if not isinstance(price_value, dict | list) else None)
        if price is None:
            return None
    version_ms = 0
    if record.get("updated_at") is not None:
        parsed = parse_timestamp_ms(record["updated_at"])
        if parsed is None:
            return None
        version_ms = parsed
    if not (ok_category and ok_tier):
        return None
    return CatalogEntry(product_id, category, price, margin_tier, version_ms)


class Catalog:
    """Every version of every product, looked up by time like the job's temporal join."""

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        by_product: dict[str, dict[int, CatalogEntry]] = defaultdict(dict)
        for entry in entries:  # arrival order: for equal times the later record wins
            by_product[entry.product_id][entry.version_ms] = entry
        self._versions = {
            product: sorted(versions.items()) for product, versions in by_product.items()
        }

    def at(self, product_id: str, ts_ms: int) -> CatalogEntry | None:
        """Return the version of ``product_id`` in effect at ``ts_ms``, if any."""
        versions = self._versions.get(product_id)
        if not versions:
            return None
        index = bisect.bisect_right(versions, ts_ms, key=lambda item: item[0])
        return versions[index - 1][1] if index else None


def read_catalog(lines: Iterable[str]) -> tuple[Catalog, list[str]]:
    """Return the catalog of raw records, and the records that are dead letters."""
    entries, rejected = [], []
    for raw in lines:
        entry = parse_catalog_record(raw)
        if entry is None:
            rejected.append(raw)
        else:
            entries.append(entry)
    return Catalog(entries), rejected
