"""Produce and consume records for the local tooling (demo, generator, replay, tests).

Plain Kafka clients (kafka-python) that work against any Kafka; the Flink job never uses them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from journey_triggers.errors import ConfigError, JourneyTriggersError

_STALLED_S = 60.0


class ProduceError(JourneyTriggersError):
    """The broker refused records (or could not be reached): none is dropped silently."""


@dataclass(frozen=True)
class TopicRecord:
    """One record read back from a topic: where it is, and its key and value bytes."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[tuple[str | None, str]],
    *,
    rate: float | None = None,
    partition_of: Callable[[int, str | None], int] | None = None,
    timestamp_of: Callable[[int], int] | None = None,
) -> int:
    """Send ``(key, value)`` records to ``topic``; return how many were sent.

    ``rate`` caps records per second (``None``: as fast as possible). ``partition_of(index,
    key)`` picks each record's partition explicitly (default: Kafka's key hashing).
    ``timestamp_of(index)`` sets each record's timestamp in epoch ms (default: now). Records go
    in the producer's normal batches (up to 256 KiB, 20 ms linger), acknowledged by the broker.
    Raises :class:`ProduceError` naming the first record the broker refused, if any was.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        retries=5,
    )
    sent = 0
    failures: list[tuple[int, BaseException]] = []
    started = time.monotonic()
    try:
        for key, value in records:
            future = producer.send(
                topic,
                key=key.encode("utf-8") if key is not None else None,
                value=value.encode("utf-8"),
                partition=partition_of(sent, key) if partition_of else None,
                timestamp_ms=timestamp_of(sent) if timestamp_of else None,
            )
            future.add_errback(lambda error, index=sent: failures.append((index, error)))
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    if failures:
        index, error = min(failures, key=lambda failure: failure[0])
        msg = (
            f"{len(failures)} of {sent} records were not written to {topic!r} at "
            f"{bootstrap_servers}; the first, record {index + 1}: {error}"
        )
        raise ProduceError(msg)
    return sent


def consume(
    bootstrap_servers: str,
    topic: str,
    *,
    committed: bool = True,
    expected: int | None = None,
    idle_timeout_s: float = 10.0,
    max_wait_s: float = 120.0,
) -> list[TopicRecord]:
    """Read ``topic``'s records from the beginning, each partition's in offset order.

    ``committed`` reads as ``read_committed`` (what a downstream consumer of exactly-once
    output sees: aborted transactions skipped, nothing behind an open one); otherwise every
    data record, aborted or open ones included. Stops when ``expected`` records were read, or
    when no record arrived for ``idle_timeout_s`` (from the start, when nothing is expected),
    or after ``max_wait_s``.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed" if committed else "read_uncommitted",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    records: list[TopicRecord] = []
    try:
        partitions = [TopicPartition(topic, p) for p in _partitions(consumer, topic)]
        if not partitions:
            return records
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        started = last = time.monotonic()
        while time.monotonic() - started < max_wait_s:
            for tp, messages in consumer.poll(timeout_ms=200).items():
                for message in messages:
                    records.append(
                        TopicRecord(tp.partition, message.offset, message.key, message.value)
                    )
                    last = time.monotonic()
            if expected is not None and len(records) >= expected:
                break
            if expected is None and time.monotonic() - last > idle_timeout_s:
                break
        return records
    finally:
        consumer.close()


def consume_json(
    bootstrap_servers: str,
    topic: str,
    *,
    expected: int | None = None,
    idle_timeout_s: float = 10.0,
    max_wait_s: float = 120.0,
) -> list[dict[str, Any]]:
    """Read the committed JSON records of ``topic`` from the beginning (see :func:`consume`)."""
    records = consume(
        bootstrap_servers,
        topic,
        expected=expected,
        idle_timeout_s=idle_timeout_s,
        max_wait_s=max_wait_s,
    )
    return [json.loads(record.value or b"null") for record in records]


def end_offsets(bootstrap_servers: str, topic: str, *, committed: bool) -> dict[int, int]:
    """Return each partition's end offset.

    With ``committed``, the last stable offset (the first offset of a transaction still open,
    else the high watermark); otherwise the high watermark.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed" if committed else "read_uncommitted",
        enable_auto_commit=False,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in _partitions(consumer, topic)]
        ends = consumer.end_offsets(partitions) if partitions else {}
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


def _partitions(consumer: Any, topic: str) -> list[int]:
    """Return the partitions of ``topic``; none when it does not exist (yet)."""
    return sorted(consumer.partitions_for_topic(topic) or set())


def consume_raw(bootstrap_servers: str, topic: str) -> list[tuple[int, str]]:
    """Read ``topic`` up to its end as ``(partition, text)`` pairs (committed records only).

    The end is each partition's last stable offset when the read starts: records produced
    later are not read. Each partition's records keep their order. Bytes that are not UTF-8
    are replaced, so the validator rejects the record instead of the reader.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = [TopicPartition(topic, p) for p in _partitions(consumer, topic)]
        if not partitions:
            msg = f"topic {topic!r} does not exist at {bootstrap_servers}"
            raise ConfigError(msg)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[int, str]] = []
        last, last_position = time.monotonic(), -1
        while todo := [tp for tp in partitions if consumer.position(tp) < ends[tp]]:
            position = sum(consumer.position(tp) for tp in partitions)
            if position != last_position:
                last, last_position = time.monotonic(), position
            elif time.monotonic() - last > _STALLED_S:
                msg = (
                    f"reading {topic!r} at {bootstrap_servers} made no progress for "
                    f"{_STALLED_S:.0f}s at offsets "
                    + ", ".join(f"{tp.partition}:{consumer.position(tp)}" for tp in todo)
                )
                raise ConfigError(msg)
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    if message.offset < ends[tp]:
                        text = (message.value or b"").decode("utf-8", errors="replace")
                        records.append((tp.partition, text))
            consumer.pause(*[tp for tp in partitions if tp not in todo])
        return records
    finally:
        consumer.close()
