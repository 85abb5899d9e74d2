from __future__ import annotations

import os

import pytest
from kafka import KafkaConsumer

from journey_triggers import broker
from journey_triggers.errors import BrokerError
from journey_triggers.kafka_io import consume_json, produce

pytestmark = pytest.mark.integration


def test_broker_starts_serves_creates_topics_and_stops_without_orphans(
    tmp_path, no_leftover_processes
):
    handle = broker.start_broker(state_dir=tmp_path)
    try:
        broker.create_topics(handle.bootstrap_servers, {"t1": 3, "t2": 1})
        broker.create_topics(handle.bootstrap_servers, {"t1": 3})  # idempotent
        consumer = KafkaConsumer(bootstrap_servers=handle.bootstrap_servers)
        assert consumer.partitions_for_topic("t1") == {0, 1, 2}
        consumer.close()
        produce(handle.bootstrap_servers, "t2", [("k", '{"n": 1}'), (None, '{"n": 2}')])
        assert consume_json(handle.bootstrap_servers, "t2", expected=2) == [{"n": 1}, {"n": 2}]
    finally:
        stopped = broker.stop_broker(tmp_path)
    assert stopped == handle
    assert not os.path.exists(f"/proc/{handle.pid}")
    assert broker.read_state(tmp_path) is None


def test_broker_uses_the_given_port(tmp_path, no_leftover_processes):
    port = broker.free_port()
    with broker.running_broker(port, tmp_path) as handle:
        assert handle.bootstrap_servers == f"127.0.0.1:{port}"


def test_second_broker_in_same_state_dir_is_refused(tmp_path, no_leftover_processes):
    with broker.running_broker(state_dir=tmp_path) as handle:
        with pytest.raises(BrokerError, match=f"already running \\(pid {handle.pid}"):
            broker.start_broker(state_dir=tmp_path)


def test_broker_on_a_taken_port_is_refused_clearly(tmp_path, no_leftover_processes):
    with broker.running_broker(state_dir=tmp_path / "a") as first:
        with pytest.raises(BrokerError, match=f"port {first.port} on 127.0.0.1 is already in use"):
            broker.start_broker(first.port, tmp_path / "b")
        assert broker.read_state(tmp_path / "b") is None


def test_stop_without_broker_is_a_no_op(tmp_path):
    assert broker.stop_broker(tmp_path) is None
