"""Real clickstream for benchmarks and backtests: the REES46 sample as customer events.

Input: ``../shared/data/rees46_multicat_2019-10-01_0000-0250utc.csv`` (see
``../shared/data/SOURCE.md`` for its origin and licence: REES46 / Open CDP). It is a CSV file
with the header ``event_time,event_type,product_id,category_id,category_code,brand,price,
user_id,user_session`` and one event per row, already in time order.

Output: one JSON object per line in the format of ``schemas/customer_event.v1.json``, written
with ``json.dumps(record, separators=(",", ":"), sort_keys=True)``, one line per CSV row, in file
order. Each CSV row maps as follows:

- ``schema_version`` is ``1``.
- ``event_id`` is ``"rees46-<n>"``, where ``<n>`` is the 1-based number of the data row (the
  header is not counted), zero-padded to 9 digits: row 1 is ``rees46-000000001``. The job and the
  reference evaluator break ties between events with the same timestamp by comparing event ids
  as strings. The padding makes that order the file order (unpadded, ``rees46-10`` would sort
  before ``rees46-9``). Nine digits cover the whole ``2019-Oct.csv`` (about 42 million rows).
- ``event_type``: ``view`` becomes ``product_view``, ``cart`` becomes ``add_to_cart`` and
  ``purchase`` stays ``purchase``.
- ``customer_id`` is ``"rees46-<user_id>"``. There is no ``anonymous_id``.
- ``session_id`` is ``user_session``.
- ``ts`` is ``event_time`` (``YYYY-MM-DD HH:MM:SS UTC``) as epoch milliseconds, an integer. The
  data has whole seconds only, so rows in the same second get the same ``ts``. Their order is the
  file order, and the event ids above keep it stable.
- ``properties.product_id`` is ``product_id`` as a string.
- ``properties.price`` is ``price`` as a JSON number.
- ``properties.category`` is the last dotted part of ``category_code``
  (``appliances.environment.water_heater`` gives ``water_heater``), and
  ``properties.category_code`` is the whole code. Both are left out when the code is empty (about
  a third of the sample's rows).
- ``properties.brand`` is ``brand``, left out when it is empty.
- ``add_to_cart`` only: ``properties.cart_items`` is the running count of ``cart`` rows so far in
  the same ``(user_id, user_session)``, this row included. ``properties.cart_value`` is the
  running sum of their prices, added exactly as decimals and then written as a JSON number. This
  is an approximation of the real cart, because the data has no quantities and no removals:
  every ``cart`` row counts as one item, nothing is ever subtracted, and a purchase does not
  empty the cart.
- Left out: ``category_id`` (an opaque number), ``device_type``, ``device_id`` and ``channel``
  (unknown in the data; rules on ``device_type`` never match), ``country`` and ``time_zone``.
  Purchases have no ``order_id`` or ``items``: each ``purchase`` row is one item.

Rows that cannot be mapped are never dropped and never passed on: :func:`rees46_events` raises
a ``ValueError`` that names the file and line (``<path>:<line>: <problem>``). The problems are a
header other than the one above, a row with the wrong number of fields, an ``event_time`` not of
the form above, an ``event_type`` other than ``view``, ``cart`` or ``purchase``, an empty
``user_id`` or ``product_id``, and a ``price`` that is not a finite non-negative number. The
sample is known to be clean, so a bad row means the input is not the file SOURCE.md describes.
A ``ValueError`` means the file needs a look. Dead-lettered records would quietly change the
counts that benchmarks and backtests compare.

Amplification for load (:func:`amplify`, and ``--copies``/``--shift`` on the command line):
copy ``k`` (0-based, ``k < copies``) of the stream is the stream with ``-c<k>`` appended to
``event_id``, ``customer_id``, ``anonymous_id`` and ``session_id`` (the ones present), and
``k * shift_ms`` added to ``ts``. Copy 0 is suffixed too, so all copies look alike. Properties,
cart values included, are unchanged. Each copy is a separate set of customers that repeats the
same journeys later by the shift. The copies are merged in timestamp order, stable by ``(ts,
k, position in the input)``. So each copy keeps its own order and, at equal timestamps, copy
``k`` comes before copy ``k + 1``. With the default shift of 3 hours, one copy follows the
other, because the sample spans 2 h 50 min. A shift of ``0`` overlaps them all, so more
customers are active at once.

Command line::

    .venv/bin/python -m tests.perf.real_data OUT.jsonl [--copies N] [--shift 3h] [--input CSV]

This writes ``OUT.jsonl`` and prints the number of events of each type. With ``--copies 1``
(the default) the converted sample is written as it is, without ``-c0`` suffixes.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from journey_triggers.durations import format_duration_ms, parse_duration_ms
from journey_triggers.errors import ConfigError
from journey_triggers.events import parse_timestamp_ms

DEFAULT_INPUT = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "rees46_multicat_2019-10-01_0000-0250utc.csv"
)
"""The sample, in the shared data folder next to the repository."""

COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)

EVENT_TYPES: dict[str, str] = {
    "view": "product_view",
    "cart": "add_to_cart",
    "purchase": "purchase",
}
"""REES46 ``event_type`` to this project's ``event_type``."""

ID_PREFIX = "rees46-"
EVENT_ID_DIGITS = 9
EVENT_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$")

# Fields that name an identity; amplify() suffixes them so the copies never share a key.
COPY_SUFFIXED_FIELDS: tuple[str, ...] = ("event_id", "customer_id", "anonymous_id", "session_id")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def _epoch_ms(text: str) -> int | None:
    if not EVENT_TIME.match(text):
        return None
    try:
        instant = datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(instant.timestamp()) * 1000


def _price(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return value


def rees46_events(path: Path) -> Iterator[str]:
    """Yield the REES46 CSV at ``path`` as JSON event lines, in file order.

    The mapping is in the module docstring. Raises ``ValueError`` naming ``path`` and the line
    for a row that cannot be mapped.
    """
    # (user_id, user_session) -> (adds so far, sum of their prices)
    carts: dict[tuple[str, str], tuple[int, Decimal]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            msg = f"{path}:1: expected the header {','.join(COLUMNS)}, got {header!r}"
            raise ValueError(msg)
        for number, row in enumerate(reader, start=1):
            where = f"{path}:{reader.line_num}"
            if len(row) != len(COLUMNS):
                msg = f"{where}: expected {len(COLUMNS)} fields, got {len(row)}"
                raise ValueError(msg)
            fields = dict(zip(COLUMNS, row, strict=True))
            ts_ms = _epoch_ms(fields["event_time"])
            if ts_ms is None:
                msg = f"{where}: bad event_time {fields['event_time']!r}"
                raise ValueError(msg)
            event_type = EVENT_TYPES.get(fields["event_type"])
            if event_type is None:
                msg = f"{where}: unknown event_type {fields['event_type']!r}"
                raise ValueError(msg)
            user_id, product_id = fields["user_id"], fields["product_id"]
            if not user_id:
                msg = f"{where}: empty user_id"
                raise ValueError(msg)
            if not product_id:
                msg = f"{where}: empty product_id"
                raise ValueError(msg)
            price = _price(fields["price"])
            if price is None:
                msg = f"{where}: bad price {fields['price']!r}"
                raise ValueError(msg)

            properties: dict[str, Any] = {"product_id": product_id, "price": float(price)}
            code = fields["category_code"]
            if code:
                properties["category"] = code.rsplit(".", 1)[-1]
                properties["category_code"] = code
            if fields["brand"]:
                properties["brand"] = fields["brand"]
            session = fields["user_session"]
            if event_type == "add_to_cart":
                items, value = carts.get((user_id, session), (0, Decimal(0)))
                items, value = items + 1, value + price
                carts[(user_id, session)] = (items, value)
                properties["cart_items"] = items
                properties["cart_value"] = float(value)

            record: dict[str, Any] = {
                "schema_version": 1,
                "event_id": f"{ID_PREFIX}{number:0{EVENT_ID_DIGITS}d}",
                "event_type": event_type,
                "customer_id": f"{ID_PREFIX}{user_id}",
                "ts": ts_ms,
                "properties": properties,
            }
            if session:
                record["session_id"] = session
            yield _dump(record)


def amplify(lines: Iterable[str], copies: int, shift_ms: int) -> Iterator[str]:
    """Yield ``copies`` shifted copies of the JSON event ``lines``, merged in timestamp order.

    Copy ``k`` gets ``-c<k>`` appended to its event, customer, anonymous and session ids and
    ``k * shift_ms`` added to its ``ts`` (written as epoch milliseconds). The result is ordered
    by ``(ts, k, position in lines)``. ``lines`` is read whole first; the copies are made lazily.
    Raises ``ValueError`` for a line that is not a JSON object with a valid ``ts``.
    """
    if copies < 1:
        msg = f"copies must be at least 1, got {copies}"
        raise ValueError(msg)
    if shift_ms < 0:
        msg = f"shift_ms must not be negative, got {shift_ms}"
        raise ValueError(msg)
    base: list[tuple[int, int, dict[str, Any]]] = []
    for position, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        ts_ms = parse_timestamp_ms(record.get("ts")) if isinstance(record, dict) else None
        if record is None or ts_ms is None:
            msg = f"line {position + 1}: not a JSON event with a valid ts: {line[:200]!r}"
            raise ValueError(msg)
        base.append((ts_ms, position, record))
    base.sort(key=lambda item: (item[0], item[1]))

    def copy(k: int) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
        suffix = f"-c{k}"
        for ts_ms, position, record in base:
            shifted = dict(record)
            for name in COPY_SUFFIXED_FIELDS:
                value = shifted.get(name)
                if isinstance(value, str) and value:
                    shifted[name] = value + suffix
            shifted["ts"] = ts_ms + k * shift_ms
            yield shifted["ts"], k, position, shifted

    merged = heapq.merge(*(copy(k) for k in range(copies)), key=lambda item: item[:3])
    for _, _, _, record in merged:
        yield _dump(record)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the converted (and optionally amplified) sample and print counts per event type."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.real_data",
        description="Convert the REES46 clickstream sample to customer events (JSON lines).",
    )
    parser.add_argument("out", type=Path, help="the JSON-lines file to write")
    parser.add_argument(
        "--input", type=Path, default=DEFAULT_INPUT, help=f"the CSV (default: {DEFAULT_INPUT})"
    )
    parser.add_argument(
        "--copies", type=int, default=1, help="copies of the stream (default 1: no amplification)"
    )
    parser.add_argument(
        "--shift", default="3h", help="time shift between copies, e.g. 3h, 90m, 0s (default 3h)"
    )
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got {args.copies}")
    try:
        shift_ms = parse_duration_ms(args.shift, what="--shift", allow_zero=True)
    except ConfigError as error:
        parser.error(str(error))

    lines: Iterator[str] = rees46_events(args.input)
    if args.copies > 1:
        lines = amplify(lines, args.copies, shift_ms)
    counts: Counter[str] = Counter()
    out: Path = args.out
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for line in lines:
                counts[json.loads(line)["event_type"]] += 1
                handle.write(line + "\n")
    except ValueError as error:
        partial.unlink(missing_ok=True)
        print(f"error: {error}", file=sys.stderr)
        return 1
    os.replace(partial, out)

    total = sum(counts.values())
    print(
        f"wrote {out}: {total} events from {args.input.name} "
        f"(copies {args.copies}, shift {format_duration_ms(shift_ms) if shift_ms else '0'})"
    )
    for event_type in EVENT_TYPES.values():
        print(f"  {event_type:<14}{counts[event_type]:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
