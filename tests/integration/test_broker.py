from __future__ import annotations

import json
import os
import time

import pytest
from kafka import KafkaConsumer

from journey_triggers import broker
from journey_triggers.errors import BrokerError
from journey_triggers.kafka_io import consume, consume_json, end_offsets, produce
from tests.integration.conftest import journey_triggers_cli

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


def test_a_restarted_broker_keeps_its_topics_records_and_committed_transactions(
    tmp_path, no_leftover_processes
):
    from kafka import KafkaProducer

    port = broker.free_port()
    with broker.running_broker(port, tmp_path) as handle:
        assert handle.bootstrap_servers == f"127.0.0.1:{port}"
        bootstrap = handle.bootstrap_servers
        broker.create_topics(bootstrap, {"kept": 2})
        produce(bootstrap, "kept", [(f"k{i}", json.dumps({"n": i})) for i in range(500)])
        producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="keeper")
        producer.init_transactions()
        producer.begin_transaction()
        producer.send("kept", b'{"n": "committed"}', partition=0)
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send("kept", b'{"n": "aborted"}', partition=1)
        producer.abort_transaction()
        producer.close()
        before = broker.topics_and_groups(bootstrap)[0]
    assert broker.read_state(tmp_path) is None

    with broker.running_broker(state_dir=tmp_path) as again:  # a new port, the same data
        assert broker.topics_and_groups(again.bootstrap_servers)[0] == before == {"kept"}
        values = [r["n"] for r in consume_json(again.bootstrap_servers, "kept", idle_timeout_s=2)]
    assert sorted(v for v in values if isinstance(v, int)) == list(range(500))
    assert [v for v in values if not isinstance(v, int)] == ["committed"]


def test_second_broker_in_same_state_dir_is_refused_and_a_taken_port_too(
    tmp_path, no_leftover_processes
):
    with broker.running_broker(state_dir=tmp_path / "a") as first:
        with pytest.raises(BrokerError, match=f"already running \\(pid {first.pid}"):
            broker.start_broker(state_dir=tmp_path / "a")
        with pytest.raises(BrokerError, match=f"port {first.port} on 127.0.0.1 is already in use"):
            broker.start_broker(first.port, tmp_path / "b")
        assert broker.read_state(tmp_path / "b") is None


def test_stop_without_broker_is_a_no_op(tmp_path):
    assert broker.stop_broker(tmp_path) is None


def test_broker_status_exits_non_zero_when_no_broker_runs(tmp_path, no_leftover_processes):
    state = str(tmp_path / "cli")
    stopped = journey_triggers_cli("broker", "status", "--state-dir", state)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "no broker running" in stopped.stdout
    started = journey_triggers_cli("broker", "start", "--state-dir", state)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        running = journey_triggers_cli("broker", "status", "--state-dir", state)
        assert running.returncode == 0, running.stdout + running.stderr
        assert "broker running: pid" in running.stdout
    finally:
        assert journey_triggers_cli("broker", "stop", "--state-dir", state).returncode == 0
    assert journey_triggers_cli("broker", "status", "--state-dir", state).returncode == 1


def test_committed_reads_skip_aborted_transactions_and_stop_at_an_open_one(local_broker):
    """What a downstream consumer of exactly-once output sees, read with ``kafka_io``."""
    from kafka import KafkaProducer

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
    plain = KafkaProducer(bootstrap_servers=bootstrap)
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

    def read(committed: bool) -> dict[int, list[str]]:
        records = consume(bootstrap, "tx", committed=committed, idle_timeout_s=2.0)
        return {p: [(r.value or b"").decode() for r in records if r.partition == p] for p in (0, 1)}

    assert read(committed=True) == {0: ["a1", "a2", "p1"], 1: ["c1"]}
    assert read(committed=False) == {0: ["a1", "a2", "x1", "p1", "open1", "p2"], 1: ["b1", "c1"]}
    assert (
        end_offsets(bootstrap, "tx", committed=True)[0]
        < end_offsets(bootstrap, "tx", committed=False)[0]
    )
    second.abort_transaction()
    second.close()
    assert read(committed=True) == {0: ["a1", "a2", "p1", "p2"], 1: ["c1"]}
    assert end_offsets(bootstrap, "tx", committed=True) == end_offsets(
        bootstrap, "tx", committed=False
    )


def test_records_the_broker_refuses_are_an_error_that_names_the_first(local_broker):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from journey_triggers.kafka_io import ProduceError

    bootstrap = local_broker.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    config = {"message.timestamp.after.max.ms": "3600000"}  # Kafka 4's default: 1 h ahead
    admin.create_topics([NewTopic("strict", 1, 1, topic_configs=config)])
    admin.close()
    now = int(time.time() * 1000)
    assert produce(bootstrap, "strict", [(None, "{}")] * 2, timestamp_of=lambda i: now) == 2
    future = [now, now, now + 86_400_000, now]  # the third is a day ahead
    # Kafka refuses the whole batch the record is in: all four, none silently.
    with pytest.raises(ProduceError, match=r"^4 of 4 records were not written to 'strict'"):
        produce(bootstrap, "strict", [(None, "{}")] * 4, timestamp_of=future.__getitem__)
    assert len(consume(bootstrap, "strict", idle_timeout_s=1)) == 2
