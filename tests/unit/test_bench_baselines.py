"""The benchmark's Java baselines (``jvm/bench``) do the work they stand in for.

``CepAbandonmentJob`` runs Flink CEP's ``begin(add_to_cart).notFollowedBy(purchase)
.within(15 min)`` per customer key in event time. Its semantics differ from the project's
built-in rule (``journey_triggers.rules.builtin.cart_abandonment``, specified by
``semantics.evaluator``), so it is checked against a plain-Python statement of CEP's, below:

- every add_to_cart starts its own match: two carts without a purchase are two alerts (the
  built-in rule is ``latest_only``: a later cart within the window supersedes the earlier);
- a purchase cancels a cart when it comes after it and *less than* the window after it: CEP
  fires the pending match as soon as event time reaches cart + window, before it takes the
  events of that millisecond (the built-in rule's window is inclusive: a purchase exactly at
  the deadline cancels);
- in the same millisecond, order is arrival order: a purchase that arrives before the cart
  does not cancel it (the built-in rule: any purchase in the same millisecond cancels);
- the key is the customer key before identity stitching (``customer_id``, else ``anon:``,
  else ``device:``): an anonymous cart and a logged-in purchase are two keys (the job stitches
  them by logins).

Both jobs drop the records the project's job dead-letters (``parse_event``), and count them.
Each test starts one JVM with a local MiniCluster (about 5 s).
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.jobrunner import job_environment
from journey_triggers.jvm_build import BENCH_CEP_JOB, BENCH_PARSE_COUNT_JOB, bench_command

WITHIN_MS = 15 * 60_000
OUT_OF_ORDERNESS_MS = 10_000


def _record(key: str, event_type: str, ts: int | str, n: int) -> str:
    record: dict[str, Any] = {"event_id": f"edge-{n}", "event_type": event_type, "ts": ts}
    field, _, value = key.partition("=")
    record[field] = value
    return json.dumps(record)


def _edge_cases(start: int) -> list[str]:
    """Carts where CEP's semantics and the built-in rule's differ, after the generated events.

    The last is a cart at ``ISO_MS`` after ``start``, its ``ts`` ISO-8601 with a +02:00 offset.
    """
    cases = [
        ("customer_id=edge-deadline", "add_to_cart", 0),
        ("customer_id=edge-deadline", "purchase", WITHIN_MS),  # CEP: too late, an alert
        ("customer_id=edge-in-time", "add_to_cart", 0),
        ("customer_id=edge-in-time", "purchase", WITHIN_MS - 1),  # cancels
        ("customer_id=edge-same-ms", "purchase", 60_000),  # arrives first: CEP, an alert
        ("customer_id=edge-same-ms", "add_to_cart", 60_000),
        ("customer_id=edge-two-carts", "add_to_cart", 0),
        ("customer_id=edge-two-carts", "add_to_cart", 60_000),  # CEP: two alerts
        ("customer_id=edge-both-cancelled", "add_to_cart", 0),
        ("customer_id=edge-both-cancelled", "add_to_cart", 60_000),
        ("customer_id=edge-both-cancelled", "purchase", 120_000),  # cancels both
        ("anonymous_id=edge-anon", "add_to_cart", 0),  # key anon:edge-anon, an alert
        ("device_id=edge-device", "add_to_cart", 0),  # key device:edge-device, an alert
    ]
    ordered = sorted(enumerate(cases), key=lambda item: item[1][2])  # stable: same-ms order
    lines = [_record(key, kind, start + at, n) for n, (key, kind, at) in ordered]
    at = _iso_cart_ms(start)
    local = datetime.fromtimestamp(at // 1000, UTC) + timedelta(hours=2)
    iso = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{at % 1000:03d}999+02:00"  # µs truncated
    lines.append(_record("customer_id=edge-iso", "add_to_cart", iso, 99))
    return lines


def _iso_cart_ms(start: int) -> int:
    return (start // 1000 + 3600) * 1000 + 250


def _workload(path: Path) -> tuple[list[str], int]:
    """The generated journeys (with malformed records), then the edge cases; and their start."""
    config = GeneratorConfig(customers=50, seed=3, invalid_share=0.05)
    lines = [line for _, line in generate(config)]
    valid = [e for e in map(parse_event, lines) if isinstance(e, Event)]
    start = max(e.ts_ms for e in valid) + 3_600_000
    lines += _edge_cases(start)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return lines, start


def _valid_events(lines: list[str]) -> list[Event]:
    """Valid events in arrival order, none behind the watermark (so none is late in Flink)."""
    events = [e for e in map(parse_event, lines) if isinstance(e, Event)]
    highest = 0
    for event in events:
        # BoundedOutOfOrderness's watermark is at most highest - bound - 1.
        assert event.ts_ms >= highest - OUT_OF_ORDERNESS_MS, event
        highest = max(highest, event.ts_ms)
    return events


def cep_alerts(events: list[Event], within_ms: int) -> list[tuple[str, int]]:
    """Flink CEP's ``cart notFollowedBy purchase within``: the (customer key, cart time) alerts.

    Per customer key, events in event-time order (arrival order within a millisecond): a cart
    is an alert unless a purchase comes after it, less than ``within_ms`` after it.
    """
    by_key: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for arrival, event in enumerate(events):
        by_key[event.customer_key].append((event.ts_ms, arrival, event.event_type))
    alerts = []
    for key, timeline in by_key.items():
        timeline.sort()
        for index, (ts, _, kind) in enumerate(timeline):
            if kind != "add_to_cart":
                continue
            later = timeline[index + 1 :]
            if not any(k == "purchase" and t - ts < within_ms for t, _, k in later):
                alerts.append((key, ts))
    return alerts


def _run(main_class: str, path: Path) -> dict[str, Any]:
    flags = ["--input", str(path), "--parallelism", "2", "--checkpoint-interval-ms", "0"]
    flags += ["--out-of-orderness-ms", str(OUT_OF_ORDERNESS_MS)]
    done = subprocess.run(  # noqa: S603 - our own jar
        bench_command(main_class, flags),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=job_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout  # one JSON line on stdout, the logs on stderr
    result: dict[str, Any] = json.loads(lines[0])
    return result


def test_the_cep_baseline_fires_what_flink_cep_semantics_fire(tmp_path):
    path = tmp_path / "events.jsonl"
    lines, start = _workload(path)
    events = _valid_events(lines)
    expected = cep_alerts(events, WITHIN_MS)
    edge = {key: ts for key, ts in expected if "edge" in key}
    assert sorted(edge) == [
        "anon:edge-anon",
        "device:edge-device",
        "edge-deadline",
        "edge-iso",
        "edge-same-ms",
        "edge-two-carts",
    ]
    assert sum("edge-two-carts" == key for key, _ in expected) == 2
    assert edge["edge-iso"] == _iso_cart_ms(start)
    carts = sum(e.event_type == "add_to_cart" for e in events)
    assert 0 < len(expected) < carts  # purchases cancel some carts, not all

    result = _run(BENCH_CEP_JOB, path)

    assert result["job"] == "java_cep_abandonment"
    assert result["events"] == len(lines)
    assert result["invalid"] == len(lines) - len(events) > 0
    assert result["late"] == 0
    assert result["alerts"] == len(expected)
    # Flink 2.2 emits a trailing notFollowedBy's alert as a match, not as a timed-out one.
    assert result["timed_out_partial_matches"] == 0
    assert result["seconds"] > 0 and result["events_per_s"] > 0


def test_the_parse_and_count_baseline_counts_every_type_and_minute(tmp_path):
    path = tmp_path / "events.jsonl"
    lines, _ = _workload(path)
    events = _valid_events(lines)
    minutes = {(e.event_type, e.ts_ms // 60_000) for e in events}

    result = _run(BENCH_PARSE_COUNT_JOB, path)

    assert result["job"] == "java_parse_count"
    assert result["events"] == len(lines)
    assert result["invalid"] == len(lines) - len(events)
    assert result["late"] == 0
    assert result["windows"] == len(minutes)
    assert result["seconds"] > 0 and result["events_per_s"] > 0
