"""Produce and consume records for the local tooling (demo, generator, tests).

These helpers carry the work-arounds for the local tansu broker; the Flink job never uses them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from journey_triggers.errors import ConfigError


def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[tuple[str | None, str]],
    *,
    rate: float | None = None,
    one_record_per_batch: bool = True,
    partition_of: Callable[[int, str | None], int] | None = None,
    timestamp_of: Callable[[int], int] | None = None,
) -> int:
    """Send ``(key, value)`` records to ``topic``; return how many were sent.

    ``rate`` caps records per second (``None``: as fast as possible). ``partition_of(index,
    key)`` picks each record's partition explicitly (default: Kafka's key hashing).
    ``timestamp_of(index)`` sets each record's timestamp in epoch ms (default: now).

    tansu work-around: tansu's ListOffsets/high watermark counts record *batches*, not records,
    so a bounded read "up to latest" of a topic written in multi-record batches stops early and
    silently drops the tail. ``one_record_per_batch`` (``batch_size=0``) makes end offsets
    correct. Against a real Kafka it only costs throughput and can be turned off.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=0 if one_record_per_batch else 20,
        batch_size=0 if one_record_per_batch else 256 * 1024,
        retries=5,
    )
    sent = 0
    started = time.monotonic()
    try:
        for key, value in records:
            producer.send(
                topic,
                key=key.encode("utf-8") if key is not None else None,
                value=value.encode("utf-8"),
                partition=partition_of(sent, key) if partition_of else None,
                timestamp_ms=timestamp_of(sent) if timestamp_of else None,
            )
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return sent


def consume_json(
    bootstrap_servers: str,
    topic: str,
    *,
    expected: int | None = None,
    idle_timeout_s: float = 10.0,
    max_wait_s: float = 120.0,
) -> list[dict[str, Any]]:
    """Read the committed JSON records of ``topic`` from the beginning.

    Stops when ``expected`` records were read, or when no record arrived for ``idle_timeout_s``
    (from the start, when nothing is expected), or after ``max_wait_s``.

    tansu work-arounds:

    * tansu lists no aborted transactions in its Fetch responses, so a Kafka client's
      ``read_committed`` read returns aborted records too. The records are read with
      :func:`journey_triggers.kafka_log.read_committed`, which decides each transaction from
      the COMMIT and ABORT markers in the log, as a Kafka broker does for its clients.
    * the topic's end offset counts batches (see :func:`produce`), so a bounded "read to the
      end offset" can lose records here; reading until a count or a quiet period does not.
    """
    from journey_triggers.kafka_log import read_committed

    records, _ = read_committed(
        bootstrap_servers,
        topic,
        _partitions(bootstrap_servers, topic),
        expected=expected,
        idle_timeout_s=idle_timeout_s,
        max_wait_s=max_wait_s,
    )
    return [json.loads(record.value or b"null") for record in records]


def _partitions(bootstrap_servers: str, topic: str) -> list[int]:
    """Return the partitions of ``topic``; none when it does not exist (yet)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        return sorted(consumer.partitions_for_topic(topic) or set())
    finally:
        consumer.close()


def consume_raw(
    bootstrap_servers: str, topic: str, *, idle_timeout_s: float = 5.0
) -> list[tuple[int, str]]:
    """Read every record of ``topic`` from the beginning as ``(partition, text)`` pairs.

    Each partition's records keep their order. Reading stops after ``idle_timeout_s`` without a
    record (the local broker's end offsets are not reliable; see :func:`consume_json`). Bytes
    that are not UTF-8 are replaced, so the validator rejects the record instead of the reader.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            msg = f"topic {topic!r} does not exist at {bootstrap_servers}"
            raise ConfigError(msg)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[tuple[int, str]] = []
        last = time.monotonic()
        while time.monotonic() - last < idle_timeout_s:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    text = (message.value or b"").decode("utf-8", errors="replace")
                    records.append((tp.partition, text))
                    last = time.monotonic()
        return records
    finally:
        consumer.close()
