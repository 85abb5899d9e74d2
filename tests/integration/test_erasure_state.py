"""An erasure removes the customer's data from the job's state: the checkpoints prove it.

A live job (Kafka in and out, parallelism 1, checkpoints every second, state TTL 3 s) takes a
customer's events, carrying marker strings (an anonymous id, a session id, a product id and a
country) that only that customer's data holds. The test reads the job's latest completed
checkpoint (every file of it, ``_metadata`` included, where Flink inlines small state) as raw
bytes:

1. before the erasure the markers are there: the scan sees the state;
2. after the ``erasure_request``, and the TTL, they are gone from every operator: the policy
   stage deletes its state at once, and the state of the old epoch (the SQL operators' and the
   rule engine's, whose pending absence holds the product id for 30 days of event time), which
   no later event reads or writes, expires (``semantics.erasure``);
3. and meanwhile no decision used the erased data: a threshold of two views counts one view
   from before the erasure and one after as one.

The customer stays active after the erasure, so the TTL alone cannot pass the test: with the
erasure epoch taken out of the SQL (every key in epoch 0), her session and country stay in the
profile's state, and the test fails (checked by hand when this test was written).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.policy import parse_policy_text
from journey_triggers.rules.model import Rule
from tests.integration.conftest import LIVE_T0, kafka_sink, live_job

pytestmark = pytest.mark.integration

MARKERS = ("anon-PII-erin", "sess-PII-erin", "prod-PII-erin", "country-PII-erin")
TWICE = Rule.model_validate(
    {
        "id": "twice",
        "version": 1,
        "description": "Viewed products twice within 48 h.",
        "trigger": {
            "kind": "count",
            "on": {"event": "product_view"},
            "at_least": 2,
            "within": "48h",
        },
        # Reads the profile, so the profile's state (sessions, devices) is in the job too.
        "conditions": {"field": "profile.events", "op": ">=", "value": 1},
        "output": {"action": "nudge", "channels": ["email"]},
    }
)


# Keeps the product id in the rule engine's state: a pending anchor holds its payload.
SILENT = Rule.model_validate(
    {
        "id": "viewed_then_silent",
        "version": 1,
        "description": "A product view with no purchase within 30 days (pending all test long).",
        "trigger": {
            "kind": "absence",
            "anchor": {"event": "product_view"},
            "absent": {"event": "purchase"},
            "within": "30d",
        },
        "output": {
            "action": "remind",
            "channels": ["email"],
            "payload": {"product": "properties.product_id"},
        },
    }
)


def _event(event_id: str, event_type: str, minute: float, **fields: Any) -> tuple[str, str]:
    ts = LIVE_T0 + round(minute * 60_000)
    record = {"event_id": event_id, "event_type": event_type, "ts": ts}
    record.update(fields)
    return str(record.get("customer_id", "")), json.dumps(record)


def _erin_before() -> list[tuple[str, str]]:
    """Each marker in its own kind of state: the anonymous id in the identity links (keyed by
    token), the session and the country in the profile (keyed by customer: it keeps the
    latest country), the product in a pending absence's payload (the rule engine's state)."""
    ids = {"customer_id": "erin", "anonymous_id": MARKERS[0], "session_id": MARKERS[1]}
    product = {"product_id": MARKERS[2], "price": 12.5}
    return [
        _event("erin-1", "login", 0, **ids, country=MARKERS[3]),
        _event("erin-2", "page_view", 1, **ids, properties={"page": "/"}),
        _event("erin-3", "product_view", 2, customer_id="erin", properties=product),
    ]


def _view(customer: str, minute: float) -> tuple[str, str]:
    """A view with no marker: moves event time on, and touches every operator's state."""
    ids = {"customer_id": customer, "anonymous_id": f"anon-{customer}", "session_id": "s-new"}
    return _event(f"{customer}-{minute}", "product_view", minute, **ids, properties={"price": 1.0})


def _latest_checkpoint(root: Path) -> bytes | None:
    """Return the bytes of every file of the newest completed checkpoint under ``root``.

    None when it was subsumed and deleted while being read: the caller takes the next one.
    """
    completed = sorted(
        (int(path.parent.name.removeprefix("chk-")), path.parent)
        for path in root.glob("*/chk-*/_metadata")
    )
    if not completed:
        return None
    directory = completed[-1][1]
    try:
        files = sorted(f for f in directory.rglob("*") if f.is_file())
        data = b"".join(f.read_bytes() for f in files)
    except FileNotFoundError:
        return None
    if directory / "_metadata" not in files or not directory.exists():
        return None
    return data


def _markers_in(root: Path) -> set[str] | None:
    data = _latest_checkpoint(root)
    if data is None:
        return None
    return {marker for marker in MARKERS if marker.encode() in data}


def _wait_for_checkpoint(root: Path, want_present: bool, produce_more: Any, timeout_s: float):
    """Poll new checkpoints until the markers are all present (or all absent)."""
    deadline = time.monotonic() + timeout_s
    seen: set[str] | None = None
    while time.monotonic() < deadline:
        produce_more()
        time.sleep(0.5)
        seen = _markers_in(root)
        print("POLL", round(time.monotonic()), seen, flush=True)
        if seen is not None and (seen == set(MARKERS) if want_present else not seen):
            return seen
    return seen


def test_an_erasure_removes_the_customers_data_from_every_operators_state(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(
        bootstrap, {f"e.{kind}": 1 for kind in ("events", "decisions", "dlq", "late", "erasures")}
    )
    checkpoints = tmp_path / "checkpoints"
    config = JobConfig(
        parallelism=1,
        rules=(TWICE, SILENT),
        policy=parse_policy_text("version: 1\n", source="test"),
        checkpoint_interval_ms=1_000,
        checkpoint_dir=checkpoints.as_uri(),
        idle_timeout_ms=1_000,
        state_ttl_ms=3_000,
    )
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="e.events")
    # One batch of views per poll. Before the erasure, oscar's, a second apart and below its
    # minute (10), or it would be late. After it, oscar's and erin's, from 3 days on (past the
    # rule's 48 h window, whose rows Flink keeps until event time passes them: a bounded OVER
    # has no TTL), a minute apart: each batch moves the watermark past the one before, so
    # every operator touches erin's state at every poll, well within the TTL. The TTL then
    # cannot remove her state if it is still the state read and written: only the erasure's
    # new epoch leaves the old one idle.
    # Until the first scan sees her markers, erin keeps browsing with her anonymous id and
    # session (page views: the rule counts product views), so her state stays within the TTL
    # however long the first checkpoint takes (it took over 3 s in some runs).
    steps = iter(range(100_000))
    customers, start, step, erin_browses = ["oscar"], [3.0], [1 / 60], [True]
    ids = {"customer_id": "erin", "anonymous_id": MARKERS[0], "session_id": MARKERS[1]}

    def more_traffic() -> None:
        index = next(steps)
        minute = start[0] + index * step[0]
        batch = [_view(customer, minute) for customer in customers]
        if erin_browses[0]:
            batch.append(_event(f"erin-browse-{index}", "page_view", minute, **ids))
        produce(bootstrap, "e.events", batch)

    with live_job(source, kafka_sink(bootstrap, "e"), config):
        produce(bootstrap, "e.events", _erin_before())
        before = _wait_for_checkpoint(checkpoints, True, more_traffic, 60)
        assert before == set(MARKERS), f"the scan does not see the state: {before}"

        customers.append("erin")
        erin_browses[0] = False
        start[0], step[0] = 3 * 24 * 60.0, 1.0
        after_ids = {"customer_id": "erin", "session_id": "s-new"}
        produce(
            bootstrap,
            "e.events",
            [
                _event("erin-erase", "erasure_request", 10, customer_id="erin"),
                _event("erin-4", "product_view", 11, **after_ids, properties={"price": 3.0}),
                _event("erin-5", "product_view", 12, **after_ids, properties={"price": 3.0}),
            ],
        )
        after = _wait_for_checkpoint(checkpoints, False, more_traffic, 90)
        assert after == set(), f"still in the job's state after the erasure and the TTL: {after}"
        confirmations = consume_json(bootstrap, "e.erasures", expected=1, max_wait_s=30)
        decisions = consume_json(bootstrap, "e.decisions", idle_timeout_s=3, max_wait_s=30)

    assert [(c["customer_id"], c["erasure_event_id"]) for c in confirmations] == [
        ("erin", "erin-erase")
    ]
    erin = sorted(
        (d["trigger_time_ms"], d["explanation"]["anchor_event_id"])
        for d in decisions
        if d["customer_id"] == "erin"
    )
    # erin-4 is the first view after the erasure: with erin-3 it would have made two.
    assert erin[0][1] == "erin-5", erin
    assert "erin-4" not in {anchor for _, anchor in erin}
