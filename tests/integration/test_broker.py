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


def test_committed_reads_skip_aborted_transactions_and_stop_at_an_open_one(local_broker):
    """tansu lists no aborted transactions, so a client's read_committed shows them; ours not."""
    from kafka import KafkaProducer, TopicPartition

    from journey_triggers.kafka_log import read_committed

    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(bootstrap, {"tx": 2})

    def transactional(name: str) -> KafkaProducer:
        producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=name, linger_ms=5)
        producer.init_transactions()
        return producer

    def send(producer: KafkaProducer, values: list[str], partition: int = 0) -> None:
        for value in values:
            producer.send("tx", value.encode(), partition=partition)
        producer.flush()

    first, second = transactional("first"), transactional("second")
    plain = KafkaProducer(bootstrap_servers=bootstrap, batch_size=0)
    first.begin_transaction()
    send(first, ["a1", "a2"])
    second.begin_transaction()
    send(second, ["x1"])  # interleaved with the first producer's open transaction
    send(plain, ["p1"])
    first.commit_transaction()
    second.abort_transaction()
    first.begin_transaction()
    send(first, ["b1"], partition=1)
    first.abort_transaction()
    first.begin_transaction()
    send(first, ["c1"], partition=1)
    first.commit_transaction()
    second.begin_transaction()
    send(second, ["open1"])  # never decided
    send(plain, ["p2"])  # behind the open transaction: not visible yet
    for producer in (plain, first):
        producer.close()

    records, aborted = read_committed(
        bootstrap, "tx", [0, 1], expected=None, idle_timeout_s=2.0, max_wait_s=20.0
    )
    visible = {p: [(r.value or b"").decode() for r in records if r.partition == p] for p in (0, 1)}
    assert visible == {0: ["a1", "a2", "p1"], 1: ["c1"]}
    assert aborted == 2  # x1 and b1

    # The client's own read_committed, for contrast: the broker's fault this reader mends.
    client = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    client.assign([TopicPartition("tx", 0), TopicPartition("tx", 1)])
    seen = {message.value.decode() for message in client}
    client.close()
    assert {"x1", "b1"} & seen, "tansu now hides aborted records: the reader may be retired"
    second.abort_transaction()
    second.close()
