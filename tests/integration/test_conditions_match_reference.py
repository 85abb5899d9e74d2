"""Compiled rule conditions decide exactly as the Python semantics, on a corpus of odd values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from jobs.compile import compile_condition
from jobs.sql import quote
from journey_triggers.rules.model import Condition
from journey_triggers.semantics.conditions import evaluate

pytestmark = pytest.mark.integration

VALUES = [
    "100",
    100,
    100.0,
    99.5,
    "99.50",
    "1e2",
    1e20,
    "abc",
    "",
    True,
    False,
    "true",
    None,
    {"nested": 1},
    [1],
    "mobile",
    "MOBILE",
    "abc\n",
    "12.5.1",
    -0.0,
    -5,
    "/services/x",
    "ünïcode",
]

CONDITIONS = [
    {"field": "properties.v", "op": "=", "value": 100},
    {"field": "properties.v", "op": "=", "value": "100"},
    {"field": "properties.v", "op": "=", "value": True},
    {"field": "properties.v", "op": "!=", "value": "mobile"},
    {"field": "properties.v", "op": "!=", "value": 100},
    {"field": "properties.v", "op": ">", "value": 99.5},
    {"field": "properties.v", "op": ">=", "value": 99.5},
    {"field": "properties.v", "op": "<", "value": 0},
    {"field": "properties.v", "op": "<=", "value": 1e20},
    {"field": "properties.v", "op": "in", "value": ["mobile", 100, "abc"]},
    {"field": "properties.v", "op": "not in", "value": ["mobile", 100]},
    {"field": "properties.v", "op": "exists"},
    {"field": "properties.v", "op": "matches", "value": "abc"},
    {"field": "properties.v", "op": "matches", "value": "/services/.*"},
    {"field": "properties.v", "op": "matches", "value": "(?i)mobile"},
    # w is "x", "y" or missing: != is false for "x" and for missing.
    {"field": "properties.w", "op": "!=", "value": "x"},
    {"field": "device_type", "op": "=", "value": "mobile"},
    {"not": {"field": "properties.v", "op": "exists"}},
    {
        "any": [
            {"field": "properties.v", "op": ">", "value": 99},
            {"field": "device_type", "op": "=", "value": "mobile"},
        ]
    },
    {
        "all": [
            {"field": "properties.v", "op": "exists"},
            {"not": {"field": "properties.v", "op": "=", "value": 100}},
        ]
    },
]


def test_compiled_conditions_equal_python_semantics(tmp_path: Path):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    lines = []
    for index, value in enumerate(VALUES):
        record: dict[str, Any] = {"event_id": f"e{index}", "properties": {"v": value}}
        if index % 3 == 0:
            record["device_type"] = "mobile"
        if index % 2 == 1:
            record["properties"]["w"] = "x" if index % 4 == 1 else "y"
        lines.append(json.dumps(record, ensure_ascii=False))
    lines.append(json.dumps({"event_id": "no-properties"}))
    source = tmp_path / "records.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    adapter = TypeAdapter(Condition)
    conditions = [adapter.validate_python(c) for c in CONDITIONS]
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    env.execute_sql(
        f"CREATE TEMPORARY TABLE records (line STRING) WITH ('connector' = 'filesystem', "
        f"'path' = {quote(str(source))}, 'format' = 'raw')"
    )
    columns = ", ".join(f"{compile_condition(c)} AS c{i}" for i, c in enumerate(conditions))
    query = f"SELECT JSON_VALUE(line, '$.event_id') AS id, {columns} FROM records"
    with env.execute_sql(query).collect() as results:
        got = {row[0]: list(row[1:]) for row in results}

    expected = {}
    for line in lines:
        record = json.loads(line)
        expected[record["event_id"]] = [evaluate(c, record) for c in conditions]
    mismatches = [
        (event_id, CONDITIONS[i], got[event_id][i], want)
        for event_id, wants in expected.items()
        for i, want in enumerate(wants)
        if got[event_id][i] != want
    ]
    assert not mismatches, mismatches[:10]
    # The corpus exercises both outcomes of every condition.
    for i in range(len(conditions)):
        outcomes = {wants[i] for wants in expected.values()}
        assert outcomes == {True, False}, CONDITIONS[i]
