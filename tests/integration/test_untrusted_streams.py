"""The job over 10,000 hostile event records and 10,000 hostile catalog records.

``tests.hostile`` writes what a broken or malicious producer sends (nesting near and past
1,000 levels, huge strings, invalid UTF-8, duplicate keys, numbers out of range, truncation,
random bytes, records over the size limit). The job must not fail, and must account for every
record exactly as the reference parsers do. One rule fires on every ``add_to_cart``, so each
event record is exactly one of: a decision's anchor, a dead letter with the reference's reason,
or a late event; each catalog record is a version or a dead letter.

Invalid UTF-8 becomes U+FFFD when the job reads bytes, as in the reference, but the JVM and
Python may replace one bad sequence by a different number of them: texts are compared with
each run of U+FFFD as one.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from jobs.specs import FileCatalogSpec, FileSinkSpec, FileSourceSpec
from journey_triggers.catalog import REJECT_INVALID_CATALOG_RECORD, parse_catalog_record
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, Rejection, parse_event
from journey_triggers.rules.model import Rule
from journey_triggers.semantics.lateness import split_late
from tests.hostile import hostile_catalog, hostile_events
from tests.integration.conftest import read_json_lines, run_pipeline

pytestmark = pytest.mark.integration

RECORDS = 10_000
BASE = 1_798_761_600_000  # 2027-01-01T00:00:00Z
EVERY_CART = Rule.model_validate(
    {
        "id": "every_cart",
        "version": 1,
        "description": "Every add_to_cart: one decision per on-time cart.",
        "trigger": {"kind": "event", "on": {"event": "add_to_cart"}},
        "output": {"action": "note", "channels": ["email"]},
    }
)


def _lines(records: list[bytes]) -> bytes:
    return b"".join(record + b"\n" for record in records)


def _text(record: bytes) -> str:
    return record.decode("utf-8", errors="replace")


def _same(text: str | None) -> str:
    """Return ``text`` as the job writes it (a lone surrogate becomes '?'), runs of U+FFFD as
    one."""
    written = (text or "").encode("utf-8", errors="replace").decode()
    return re.sub("\ufffd+", "\ufffd", written)


def test_hostile_events_and_catalog_records_are_each_decided_dead_lettered_or_late(tmp_path):
    events = hostile_events(RECORDS, seed=11, base_ts_ms=BASE)
    catalog = hostile_catalog(RECORDS, seed=12)
    (tmp_path / "events.jsonl").write_bytes(_lines(events))
    (tmp_path / "catalog.jsonl").write_bytes(_lines(catalog))
    config = JobConfig(
        parallelism=2,
        rules=(EVERY_CART,),
        catalog=FileCatalogSpec(path=str(tmp_path / "catalog.jsonl")),
    )
    parsed = [parse_event(_text(record)) for record in events]
    rejected = [p for p in parsed if isinstance(p, Rejection)]
    split = split_late([p for p in parsed if isinstance(p, Event)], config.out_of_orderness_ms)
    versions = [parse_catalog_record(_text(record)) for record in catalog]

    out = tmp_path / "out"
    run_pipeline(FileSourceSpec(str(tmp_path / "events.jsonl")), FileSinkSpec(str(out)), config)
    decisions = read_json_lines(out / "decisions")
    dead = read_json_lines(out / "dead_letters")
    late = read_json_lines(out / "late_events")
    event_dead = [d for d in dead if d["reason"] != REJECT_INVALID_CATALOG_RECORD]
    catalog_dead = [d for d in dead if d["reason"] == REJECT_INVALID_CATALOG_RECORD]

    assert len(decisions) + len(event_dead) + len(late) == RECORDS
    assert sorted(_same(d["explanation"]["anchor_event_id"]) for d in decisions) == sorted(
        _same(e.event_id) for e in split.on_time
    )
    assert sorted((d["reason"], _same(d["raw"])) for d in event_dead) == sorted(
        (p.reason, _same(p.raw)) for p in rejected
    )
    assert sorted(_same(d["raw"]) for d in late) == sorted(_same(e.raw) for e in split.late)
    # Every kind of outcome happened.
    assert len(Counter(p.reason for p in rejected)) >= 6
    assert len(split.on_time) > RECORDS // 3 and split.late

    assert sorted(_same(d["raw"]) for d in catalog_dead) == sorted(
        _same(_text(record))
        for record, version in zip(catalog, versions, strict=True)
        if version is None
    )
    assert RECORDS // 10 < len(catalog_dead) < RECORDS - RECORDS // 10
