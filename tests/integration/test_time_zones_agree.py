"""The JVM and the reference evaluator compute the same local times in every accepted zone.

The engine's ``local_time`` conditions read the JVM's tz database (``Cond.LocalTime``, run here
through the engine's command-line driver); the reference evaluator reads the pinned ``tzdata``
package. This test holds the two equal over every zone
name the compiler accepts, at seeded random instants from 1970 to the end of 2036 (the calendar
both sides share), and at a six-hourly sweep of 2027 in zones with DST changes, odd offsets and
the generator's zones.
"""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from journey_triggers.jvm_engine import ENGINE_CLI, engine_classpath
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


def test_every_accepted_zone_gives_the_same_local_minute_and_day_in_the_engine_and_python(
    tmp_path,
):
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
    result = subprocess.run(
        ["java", "-cp", engine_classpath(), ENGINE_CLI, "--local-times", str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = {}
    for line in result.stdout.splitlines():
        row = json.loads(line)
        got[row["i"]] = (row["known"], row.get("minute"), row.get("day"))
    assert len(got) == len(rows)

    mismatches = []
    for index, (zone, ts_ms) in enumerate(rows):
        local = context.local_minute_and_day(ts_ms, zone)
        want = (False, None, None) if local is None else (True, local[0], local[1])
        if got[index] != want:
            mismatches.append((zone, ts_ms, got[index], want))
    jvm = subprocess.run(
        ["java", "-XshowSettings:properties", "-version"], capture_output=True, text=True
    ).stderr
    version = next((line for line in jvm.splitlines() if "java.version =" in line), "?")
    assert not mismatches, (
        f"JVM {version.strip()}, tzdata {context.TZ_VERSION}: {len(mismatches)} differ: "
        f"{mismatches[:5]}"
    )
    assert len(context.zones()) > 400
    assert sum(1 for value in got.values() if not value[0]) == len(NOT_ZONES) + 1
