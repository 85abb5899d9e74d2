"""The JVM ingest's parser accepts, rejects and time-stamps records exactly as the reference.

``journeytriggers.ingest.EventParser`` (one JSON parse per record, run here through the
engine's driver) against ``events.parse_event``: on the ingest corpus of
``test_ingest_matches_reference.py`` (every timestamp form, identities, carts, feedback, the
size limit, Jackson's nesting and number limits), and on 10,000 hostile records
(``tests.hostile``). Each record gets the same reason, or the same event id, type, key and time.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from journey_triggers.events import MAX_RECORD_CHARS, Event, json_lines, parse_event
from journey_triggers.jvm_engine import ENGINE_CLI, engine_classpath
from tests.hostile import hostile_events
from tests.integration.test_ingest_matches_reference import MAX_CHARS, corpus

pytestmark = pytest.mark.integration


def _jvm(path: Path, max_chars: int) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            "java",
            "-cp",
            engine_classpath(),
            ENGINE_CLI,
            "--parse-events",
            str(path),
            "--max-chars",
            str(max_chars),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    # One JSON object per line; split at line feeds only (a text may hold U+2028 raw).
    return [json.loads(line) for line in result.stdout.split("\n") if line]


def _reference(line: str, max_chars: int) -> dict[str, Any]:
    parsed = parse_event(line, max_chars=max_chars)
    if isinstance(parsed, Event):
        return {
            "event_id": parsed.event_id,
            "event_type": parsed.event_type,
            "customer_key": parsed.customer_key,
            "ts_ms": parsed.ts_ms,
        }
    return {"reason": parsed.reason}


def _assert_same(path: Path, max_chars: int) -> dict[str, int]:
    lines = json_lines(path.read_text(encoding="utf-8"))
    got = _jvm(path, max_chars)
    assert len(got) == len(lines)
    mismatches = [
        (line[:200], want, have)
        for line, have in zip(lines, got, strict=True)
        if (want := _reference(line, max_chars)) != have
    ]
    assert not mismatches, (len(mismatches), mismatches[:5])
    outcomes: dict[str, int] = {}
    for outcome in got:
        kind = outcome.get("reason", "event")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    return outcomes


def test_the_ingest_corpus_parses_as_the_reference(tmp_path):
    # The latest event time and just past it, in each form (events.MAX_EVENT_TIME_MS).
    bounds: list[object] = [
        253_370_764_799_999,
        253_370_764_800_000,
        "253370764799999",
        "253370764800000",
        "9998-12-31T23:59:59.999Z",
        "9999-01-01T00:00:00Z",
        "9999-01-01T00:59:59.999+01:00",
        "9998-12-31T23:59:59-01:00",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00Z",
    ]
    edges = [
        json.dumps({"event_id": f"b{i}", "event_type": "login", "customer_id": "c", "ts": ts})
        for i, ts in enumerate(bounds)
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(line + "\n" for line in [*corpus(), *edges]), encoding="utf-8")
    outcomes = _assert_same(path, MAX_CHARS)
    assert outcomes["event"] > 20 and outcomes["invalid_ts"] > 10, outcomes
    assert {"not_a_json_object", "oversized_record", "invalid_cart", "missing_identity"} <= set(
        outcomes
    )


def test_ten_thousand_hostile_records_parse_as_the_reference(tmp_path):
    records = hostile_events(10_000, seed=7, base_ts_ms=1_798_761_600_000)
    texts = [record.decode("utf-8", errors="replace") for record in records]
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    outcomes = _assert_same(path, MAX_RECORD_CHARS // 20)
    assert outcomes["event"] > 3_000 and outcomes["not_a_json_object"] > 500, outcomes
    assert outcomes["oversized_record"] > 0, outcomes
