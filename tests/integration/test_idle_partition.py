"""A quiet partition in a live job: the watermark moves on without it, and nothing is lost.

Partition 0 goes idle while partition 1 moves event time two hours on. Partition 0 then sends
an event that is on time in its own partition but behind the job's watermark. Every event-time
operator would drop it; the job sends it to the late topic with reason ``behind_watermark``
instead, and decides every other event.
"""

from __future__ import annotations

import time

import pytest

from jobs.specs import KafkaSourceSpec
from journey_triggers.kafka_io import consume_json, produce
from tests.integration.conftest import (
    LIVE_T0,
    browsing_job,
    create_job_topics,
    kafka_sink,
    live_job,
    page_view,
)

pytestmark = pytest.mark.integration


def test_an_event_behind_the_watermark_after_idleness_goes_to_the_late_topic(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    create_job_topics(bootstrap, "i", events=2)
    config = browsing_job(tmp_path)

    def send(partition: int, customer: str, minute: int) -> None:
        produce(
            bootstrap, "i.events", [page_view(customer, minute)], partition_of=lambda *_: partition
        )

    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="i.events")
    with live_job(source, kafka_sink(bootstrap, "i"), config):
        send(0, "ann", 0)
        send(1, "bob", 1)
        time.sleep(3)  # partition 0 goes idle
        send(1, "bob", 120)  # the watermark passes minute 1 without partition 0
        first = consume_json(bootstrap, "i.decisions", expected=2, max_wait_s=120)
        assert sorted(d["explanation"]["anchor_event_id"] for d in first) == ["ann-0", "bob-1"]

        send(0, "ann", 60)  # on time in partition 0 (its newest is minute 0), behind the watermark
        late = consume_json(bootstrap, "i.late", expected=1, max_wait_s=120)
        assert [(r["event_id"], r["reason"], r["source_partition"]) for r in late] == [
            ("ann-60", "behind_watermark", 0)
        ]
        assert late[0]["watermark_ms"] >= LIVE_T0 + 60 * 60_000
        # The newest event of its partition, so on time there.
        assert late[0]["partition_max_time_ms"] == late[0]["event_time_ms"]

        time.sleep(2)  # partition 0 goes idle again
        send(1, "bob", 180)  # moves the watermark past minute 120
        decided = consume_json(bootstrap, "i.decisions", expected=3, max_wait_s=120)
        assert sorted(d["explanation"]["anchor_event_id"] for d in decided) == [
            "ann-0",
            "bob-1",
            "bob-120",
        ]
        # Four of the five events decided or late so far; bob-180 waits for the watermark.
        assert len(consume_json(bootstrap, "i.dlq", idle_timeout_s=2)) == 0
