"""Rules are data: a job stopped with a savepoint resumes with another rule set and keeps state.

A live job (Kafka in and out, parallelism 2) runs two rules. While a cart is pending in the
unchanged absence rule and a count of the edited rule is half way, the job stops with a
savepoint. It resumes from it with the count rule edited (version 2) and a rule added. The
pending cart fires once, from the restored state; the edited rule's version 1 count is gone
(an edited rule starts afresh: its version 2 needs its own three views), the added rule fires,
and every decision names the rule version that made it.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from jobs.specs import KafkaSourceSpec
from jobs.triggers_job import build_pipeline, create_table_env
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.model import Rule
from tests.integration.conftest import LIVE_T0, kafka_sink, live_job, wait_until_running

pytestmark = pytest.mark.integration

ABANDONED = Rule.model_validate(
    {
        "id": "abandoned",
        "version": 1,
        "description": "A cart with no purchase within 30 minutes.",
        "trigger": {
            "kind": "absence",
            "anchor": {"event": "add_to_cart"},
            "absent": {"event": "purchase"},
            "within": "30m",
        },
        "output": {"action": "remind", "channels": ["email"]},
    }
)


def _views(at_least: int, version: int) -> Rule:
    return Rule.model_validate(
        {
            "id": "views",
            "version": version,
            "description": f"{at_least} product views within 48 hours.",
            "trigger": {
                "kind": "count",
                "on": {"event": "product_view"},
                "at_least": at_least,
                "within": "48h",
            },
            "output": {"action": "nudge", "channels": ["email"]},
        }
    )


LOGIN = Rule.model_validate(
    {
        "id": "login_seen",
        "version": 1,
        "description": "Every login (added when the job resumes).",
        "trigger": {"kind": "event", "on": {"event": "login"}},
        "output": {"action": "welcome", "channels": ["push"]},
    }
)


def _event(customer: str, event_type: str, minute: int) -> tuple[str, str]:
    record = {
        "event_id": f"{customer}-{event_type}-{minute}",
        "event_type": event_type,
        "customer_id": customer,
        "ts": LIVE_T0 + minute * 60_000,
    }
    if event_type in ("add_to_cart", "product_view"):
        record["properties"] = {"product_id": "p1", "price": 5.0}
    return customer, json.dumps(record)


def _move_event_time(bootstrap: str, minute: int) -> None:
    """Move event time to ``minute`` on both partitions of the events topic: page views of two
    bystanders, one per partition, so no watermark waits for a partition's idle timeout."""
    clocks = [_event("c8", "page_view", minute), _event("c9", "page_view", minute)]
    produce(bootstrap, "rc.events", clocks, partition_of=lambda index, _key: index)


def _stop_with_savepoint(client: Any, directory: str) -> str:
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    formats = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType
    deadline = time.monotonic() + 60
    while True:
        try:
            return str(
                client._j_job_client.stopWithSavepoint(False, directory, formats.CANONICAL).get()
            )
        except Py4JJavaError as err:
            if "Not all required tasks are currently running" not in str(err):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _decided(decisions: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return sorted(
        (d["rule_id"], d["rule_version"], d["customer_id"], d["explanation"]["anchor_event_id"])
        for d in decisions
    )


def test_a_savepoint_resumes_with_an_edited_and_an_added_rule_keeping_pending_state(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    topics = ("events", "decisions", "dlq", "late", "erasures")
    broker.create_topics(bootstrap, {f"rc.{name}": 2 if name == "events" else 1 for name in topics})
    sink = kafka_sink(bootstrap, "rc")
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="rc.events")
    config = JobConfig(
        parallelism=2,
        rules=(ABANDONED, _views(2, 1)),
        out_of_orderness_ms=1_000,
        checkpoint_interval_ms=1_000,
        checkpoint_dir=(tmp_path / "checkpoints").as_uri(),
        # No idle timeout: a partition left idle while the test waits would drop out of the
        # watermark, and the other partition's clock could pass its records (late).
        idle_timeout_ms=0,
    )
    before = [
        _event("c1", "add_to_cart", 0),  # pending 30 minutes: fires after the resume
        _event("c3", "product_view", 1),  # views v1 half way: dropped with version 1
        _event("c2", "product_view", 2),
        _event("c2", "product_view", 3),  # views v1 fires
    ]
    # Not live_job: the job ends with its savepoint, and its minicluster with it.
    t_env = create_table_env(config)
    client = build_pipeline(t_env, source, sink, config).execute().get_job_client()
    try:
        wait_until_running(client)
        produce(bootstrap, "rc.events", before)
        _move_event_time(bootstrap, 5)  # past the views
        first = consume_json(bootstrap, "rc.decisions", expected=1, max_wait_s=90)
        # Its decision means event time passed minute 3: every event above but the clocks was
        # evaluated under the first rules (events the watermark has not passed at the
        # savepoint wait in the engine's state, and the resumed rules evaluate them).
        assert _decided(first) == [("views", 1, "c2", "c2-product_view-3")]
        savepoint = _stop_with_savepoint(client, (tmp_path / "savepoints").as_uri())
    except BaseException:
        client.cancel()
        raise

    resumed = replace(
        config,
        rules=(ABANDONED, _views(3, 2), LOGIN),
        flink_conf={"execution.state-recovery.path": savepoint},
    )
    after = [
        _event("c3", "product_view", 40),  # one view under version 2: nothing
        _event("c3", "product_view", 41),  # two: nothing (version 1 would have fired at 40)
        _event("c4", "login", 45),
    ]
    with live_job(source, sink, resumed):
        produce(bootstrap, "rc.events", after)
        _move_event_time(bootstrap, 60)  # past c1's deadline (minute 30) and the login
        decisions = consume_json(bootstrap, "rc.decisions", expected=3, max_wait_s=90)
        # Nothing more comes: the cart fires once, the edited rule's old count is gone.
        decisions = consume_json(bootstrap, "rc.decisions", idle_timeout_s=5, max_wait_s=30)

    assert _decided(decisions) == [
        ("abandoned", 1, "c1", "c1-add_to_cart-0"),
        ("login_seen", 1, "c4", "c4-login-45"),
        ("views", 1, "c2", "c2-product_view-3"),
    ]
