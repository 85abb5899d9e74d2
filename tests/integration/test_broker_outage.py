"""Broker outages in a live job: the broker is down at start, and it crashes mid-run.

The test's own Apache Kafka broker (the shared one of the suite must not go down) keeps its
data in the test's directory. What the job does (the README's "Broker outages" section):

- down at start: the job runs and its Kafka clients retry; once the broker is up, every event
  is decided, once;
- killed (``kill -9``) and started again on the same port and data: the topics, the records
  and the committed decisions are still there; the source and the sink reconnect, or the job
  restarts from its last checkpoint. No decision is lost or written twice, and no event is
  read again as late.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.kafka_io import consume_json, produce
from tests.integration.conftest import (
    browsing_job,
    create_job_topics,
    kafka_sink,
    live_job,
    page_view,
)

pytestmark = pytest.mark.integration

TOPIC = "o.events"


def _decide_while_traffic_flows(
    bootstrap: str, wanted: set[str], minute: int, timeout_s: float = 180
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], int]:
    """Send a view of ``zed`` a second, one event-time minute apart, until every event id in
    ``wanted`` is decided; return the decisions, the views sent and the next free minute.

    An event rule fires once the watermark passes its event: later traffic moves it on.
    """
    sent: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        decided = consume_json(bootstrap, "o.decisions", idle_timeout_s=1)
        found = {d["explanation"]["anchor_event_id"] for d in decided}
        if wanted <= found:
            return decided, sent, minute
        assert time.monotonic() < deadline, f"not decided: {sorted(wanted - found)}"
        tick = [page_view("zed", minute)]
        produce(bootstrap, TOPIC, tick)
        sent += tick
        minute += 1


def _port_outside_the_ephemeral_range() -> int:
    """A free port below Linux's ephemeral range (32768 and up).

    While no broker listens, the job's Kafka clients keep connecting to its port; a client's
    own ephemeral port can then be that very port (a TCP self-connect), which holds it, and the
    broker could not bind it.
    """
    for port in range(21_000 + os.getpid() % 5_000, 32_000):
        if broker.port_is_free(port):
            return port
    msg = "no free port below 32000"
    raise AssertionError(msg)


def _minute(event_id: str) -> int:
    return int(event_id.rsplit("-", 1)[1])


def _assert_decided_up_to_the_newest(sent: list[tuple[str, str]], decided: set[str]) -> None:
    """Every event sent is decided, up to the newest decided one: only the views after it
    still wait for the watermark."""
    ids = {json.loads(value)["event_id"] for _, value in sent}
    newest = max(_minute(event_id) for event_id in decided)
    assert decided == {event_id for event_id in ids if _minute(event_id) <= newest}
    assert len(ids) - len(decided) <= 5, "more events wait than the watermark explains"


def test_the_broker_down_at_start_then_restarted_mid_run_loses_and_repeats_no_decision(
    no_leftover_processes, tmp_path: Path
):
    port = _port_outside_the_ephemeral_range()
    bootstrap = f"127.0.0.1:{port}"
    state = tmp_path / "broker"
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic=TOPIC)
    try:
        with live_job(source, kafka_sink(bootstrap, "o"), browsing_job(tmp_path)) as client:
            # 1. No broker at start: the job runs, its Kafka clients retry.
            time.sleep(10)
            print(f"with no broker for 10 s the job is {client.get_job_status().result()}")
            broker.start_broker(port, state)
            create_job_topics(bootstrap, "o")
            up = time.monotonic()
            history = [page_view("ann", 0), page_view("bob", 1)]
            produce(bootstrap, TOPIC, history)
            _, ticks, minute = _decide_while_traffic_flows(bootstrap, {"ann-0", "bob-1"}, 2)
            history += ticks
            print(f"broker up: ann's and bob's views decided {time.monotonic() - up:.1f}s later")
            time.sleep(3)  # traffic stops: the last decisions are committed, none is open
            before = consume_json(bootstrap, "o.decisions", idle_timeout_s=2)
            _assert_decided_up_to_the_newest(
                history, {d["explanation"]["anchor_event_id"] for d in before}
            )

            # 2. The broker crashes and comes back with its data.
            broker.stop_broker(state, kill=True)
            time.sleep(5)
            broker.start_broker(port, state)
            back = time.monotonic()
            kept = broker.topics_and_groups(bootstrap)[0]
            assert {f"o.{kind}" for kind in ("events", "decisions", "dlq", "late")} <= kept
            later = [page_view("cat", minute), page_view("dan", minute + 1)]
            produce(bootstrap, TOPIC, later)
            wanted = {f"cat-{minute}", f"dan-{minute + 1}"}
            after, more, _ = _decide_while_traffic_flows(bootstrap, wanted, minute + 2, 360)
            print(
                f"{len(before)} decisions before the crash, {len(after)} in all after it; cat's "
                f"and dan's views decided {time.monotonic() - back:.1f}s after the broker came back"
            )
            late = consume_json(bootstrap, "o.late", idle_timeout_s=2)
            dead = consume_json(bootstrap, "o.dlq", idle_timeout_s=1)
            client.cancel().result()
    finally:
        broker.stop_broker(state)

    # The topic read from the start after the crash: it holds every decision of before it.
    assert Counter(d["decision_id"] for d in before) <= Counter(d["decision_id"] for d in after)
    decisions = Counter(d["decision_id"] for d in after)
    assert max(decisions.values()) == 1, "a decision was written twice"
    decided = Counter(d["explanation"]["anchor_event_id"] for d in after)
    assert max(decided.values()) == 1, "an event was decided twice"
    assert late == [], "an event was read again behind event time"
    assert dead == []
    # Nothing lost: every event is decided, but the newest few that wait for the watermark.
    _assert_decided_up_to_the_newest(history + later + more, set(decided))
