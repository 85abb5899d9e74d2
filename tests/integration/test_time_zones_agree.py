"""The JVM and the reference evaluator compute the same local times in every accepted zone.

``local_time`` conditions compile to Flink's CONVERT_TZ (the JVM's tz database); the reference
evaluator reads the pinned ``tzdata`` package. This test holds the two equal over every zone
name the compiler accepts, at seeded random instants from 1970 to the end of 2036 (the calendar
both sides share), and at a six-hourly sweep of 2027 in zones with DST changes, odd offsets and
the generator's zones.
"""

from __future__ import annotations

import json
import random

import pytest

from jobs.compile import DAY_NUMBERS, local_time_sql
from jobs.sql import quote
from journey_triggers.semantics import context

pytestmark = pytest.mark.integration

SWEEP_ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]
NOT_ZONES = ["EST", "PST", "Nowhere/Land", "europe/berlin", "SystemV/EST5", "GMT+0", "", "UTC "]


def test_every_accepted_zone_gives_the_same_local_minute_and_day_in_sql_and_python(tmp_path):
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    rng = random.Random(11)
    start_2027 = 1_798_761_600_000
    rows = []
    for zone in context.zones():
        rows += [(zone, rng.randrange(0, context.LOCAL_TIME_LIMIT_MS)) for _ in range(60)]
    for zone in SWEEP_ZONES:
        rows += [(zone, start_2027 + k * 21_600_000 + 420_000) for k in range(1461)]
    rows += [(name, start_2027) for name in NOT_ZONES]
    rows += [("Europe/Berlin", context.LOCAL_TIME_LIMIT_MS - 1)]
    rows += [("Europe/Berlin", context.LOCAL_TIME_LIMIT_MS)]
    source = tmp_path / "instants.jsonl"
    source.write_text(
        "".join(
            json.dumps({"i": i, "time_zone": z, "ts": t}) + "\n" for i, (z, t) in enumerate(rows)
        )
    )

    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("table.local-time-zone", "UTC")
    env.execute_sql(
        f"CREATE TEMPORARY TABLE records (line STRING) WITH ('connector' = 'filesystem', "
        f"'path' = {quote(str(source))}, 'format' = 'raw')"
    )
    known, minute, day = local_time_sql("r")
    # Results go to a file, not back through collect(): a collected row costs several Py4J
    # round trips, and 44,000 of them took minutes on a loaded machine.
    out = tmp_path / "local-times"
    env.execute_sql(
        "CREATE TEMPORARY TABLE local_times (i INT, known BOOLEAN, minute_of_day INT, "
        f"day_number INT) WITH ('connector' = 'filesystem', 'path' = {quote(str(out))}, "
        f"'format' = 'json')"
    )
    env.execute_sql(
        f"""INSERT INTO local_times SELECT CAST(JSON_VALUE(line, '$.i') AS INT), {known},
      CAST(CASE WHEN {known} THEN {minute} END AS INT),
      CAST(CASE WHEN {known} THEN {day} END AS INT)
    FROM (SELECT line, CAST(JSON_VALUE(line, '$.ts') AS BIGINT) AS ts_ms FROM records) r"""
    ).wait()
    got = {}
    for part in sorted(out.rglob("*")):
        if part.is_file() and not part.name.startswith("."):
            for line in part.read_text(encoding="utf-8").split("\n"):
                if line:
                    row = json.loads(line)
                    got[row["i"]] = (bool(row["known"]), row["minute_of_day"], row["day_number"])
    assert len(got) == len(rows)

    mismatches = []
    for index, (zone, ts_ms) in enumerate(rows):
        local = context.local_minute_and_day(ts_ms, zone)
        want = (False, None, None) if local is None else (True, local[0], DAY_NUMBERS[local[1]])
        if got[index] != want:
            mismatches.append((zone, ts_ms, got[index], want))
    jvm = get_gateway().jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC").lastKey()
    assert not mismatches, (
        f"JVM tzdb {jvm}, tzdata {context.TZ_VERSION}: {len(mismatches)} differ: {mismatches[:5]}"
    )
    assert len(context.zones()) > 400
    assert sum(1 for value in got.values() if not value[0]) == len(NOT_ZONES) + 1
