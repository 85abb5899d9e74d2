"""Read a topic as ``read_committed`` from the log's own transaction markers (local tooling).

Why this exists: the local broker (tansu 0.6.0) writes transaction markers into the log, and
reports a correct last stable offset, but its Fetch responses never list the aborted
transactions. Kafka clients skip an aborted transaction's records only when the broker lists
it, so every ``isolation_level=read_committed`` consumer reads aborted records back from tansu.
A Flink job that fails and recovers leaves exactly such records behind: what the failed
attempt wrote after its last checkpoint.

This reader fetches the raw record batches (Fetch v4, ``read_uncommitted``) and applies
Kafka's read_committed rules itself:

- a record outside a transaction is visible;
- a transactional record becomes visible when its producer's next marker is a COMMIT, and is
  discarded when it is an ABORT;
- records are returned in offset order, up to the first record of a transaction still open
  (Kafka's last stable offset): nothing behind it is returned, committed or not.

It talks to the bootstrap address only, so it serves the single-broker local setup (demo and
tests); against a multi-broker cluster it raises on a partition led elsewhere. The Flink job
never uses it.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from journey_triggers.errors import BrokerError

_FETCH_KEY, _FETCH_VERSION = 1, 4
_MAX_BYTES = 32 << 20
_ERRORS = {
    1: "OFFSET_OUT_OF_RANGE",
    3: "UNKNOWN_TOPIC_OR_PARTITION",
    6: "NOT_LEADER_OR_FOLLOWER (this reader talks to the bootstrap broker only)",
}


@dataclass(frozen=True)
class LogRecord:
    """One visible record: where it is, and its key and value bytes."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class _Item:
    record: LogRecord
    visible: bool | None  # None: its transaction is still open


@dataclass
class _Partition:
    """One partition's read position and its records not yet decided or returned."""

    next_offset: int = 0
    queue: deque[_Item] = field(default_factory=deque)
    open_transactions: dict[int, list[_Item]] = field(default_factory=dict)
    aborted: int = 0
    discarded: list[tuple[LogRecord, int, int]] = field(default_factory=list)
    """Each aborted record, with the epoch and the offset of its ABORT marker."""

    def add_batch(self, partition: int, batch: object) -> None:
        """Take one record batch: data (transactional or not) or a transaction marker."""
        producer_id = batch.producer_id  # type: ignore[attr-defined]
        epoch = batch.producer_epoch  # type: ignore[attr-defined]
        if batch.is_control_batch:  # type: ignore[attr-defined]
            for marker in batch:  # type: ignore[attr-defined]
                pending = self.open_transactions.pop(producer_id, [])
                for item in pending:
                    item.visible = bool(marker.commit)
                if not marker.commit:
                    self.aborted += len(pending)
                    self.discarded.extend((item.record, epoch, marker.offset) for item in pending)
        else:
            transactional = bool(batch.is_transactional)  # type: ignore[attr-defined]
            for record in batch:  # type: ignore[attr-defined]
                item = _Item(
                    LogRecord(partition, record.offset, record.key, record.value),
                    None if transactional else True,
                )
                self.queue.append(item)
                if transactional:
                    self.open_transactions.setdefault(producer_id, []).append(item)
        self.next_offset = batch.next_offset  # type: ignore[attr-defined]

    def drain(self) -> list[LogRecord]:
        """Return the decided, visible records at the head, in offset order."""
        out: list[LogRecord] = []
        while self.queue and self.queue[0].visible is not None:
            item = self.queue.popleft()
            if item.visible:
                out.append(item.record)
        return out


class CommittedLogReader:
    """Read ``topic`` from the beginning, returning only committed records (see module doc)."""

    def __init__(self, bootstrap_servers: str, topic: str, partitions: list[int]) -> None:
        host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
        self._address = (host or "127.0.0.1", int(port))
        self._topic = topic
        self._partitions = {p: _Partition() for p in sorted(partitions)}
        self._socket: socket.socket | None = None
        self._correlation = 0

    @property
    def aborted(self) -> int:
        """How many aborted records were read and discarded so far."""
        return sum(p.aborted for p in self._partitions.values())

    @property
    def discarded(self) -> list[tuple[LogRecord, int, int]]:
        """Every aborted record read so far, with its ABORT marker's epoch and offset."""
        return [item for p in self._partitions.values() for item in p.discarded]

    @property
    def undecided(self) -> int:
        """How many records read so far belong to a transaction still open."""
        return sum(
            len(items) for p in self._partitions.values() for items in p.open_transactions.values()
        )

    def __enter__(self) -> CommittedLogReader:
        self._socket = socket.create_connection(self._address, timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def poll(self, max_wait_ms: int = 500) -> list[LogRecord]:
        """Fetch once (waiting up to ``max_wait_ms`` for data); return newly visible records."""
        from kafka.record.memory_records import MemoryRecords

        visible: list[LogRecord] = []
        for partition, records in self._fetch(max_wait_ms):
            state = self._partitions[partition]
            batches = MemoryRecords(records)
            while (batch := batches.next_batch()) is not None:
                if not batch.validate_crc():
                    msg = (
                        f"{self._topic}[{partition}]: the record batch at offset "
                        f"{batch.base_offset} fails its CRC check"
                    )
                    raise BrokerError(msg)
                state.add_batch(partition, batch)
            visible.extend(state.drain())
        return visible

    def _fetch(self, max_wait_ms: int) -> list[tuple[int, bytes]]:
        self._correlation += 1
        topic = self._topic.encode("utf-8")
        body = struct.pack(">iiiib", -1, max_wait_ms, 1, _MAX_BYTES, 0)
        body += struct.pack(">ih", 1, len(topic)) + topic + struct.pack(">i", len(self._partitions))
        for partition, state in self._partitions.items():
            body += struct.pack(">iqi", partition, state.next_offset, _MAX_BYTES)
        client = b"journey-triggers-log-reader"
        header = struct.pack(">hhih", _FETCH_KEY, _FETCH_VERSION, self._correlation, len(client))
        message = header + client + body
        data = self._exchange(struct.pack(">i", len(message)) + message)
        return self._parse(data)

    def _exchange(self, request: bytes) -> bytes:
        if self._socket is None:
            msg = "CommittedLogReader is used outside its 'with' block"
            raise BrokerError(msg)
        self._socket.sendall(request)
        (size,) = struct.unpack(">i", self._receive(4))
        return self._receive(size)

    def _receive(self, size: int) -> bytes:
        assert self._socket is not None
        chunks, remaining = [], size
        while remaining:
            chunk = self._socket.recv(min(remaining, 1 << 20))
            if not chunk:
                msg = f"the broker at {self._address[0]}:{self._address[1]} closed the connection"
                raise BrokerError(msg)
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _parse(self, data: bytes) -> list[tuple[int, bytes]]:
        """Decode a Fetch v4 response: per partition, its error and its records' bytes."""
        pos = 8  # correlation id, throttle time
        out: list[tuple[int, bytes]] = []
        (topics,) = struct.unpack_from(">i", data, pos)
        pos += 4
        for _ in range(topics):
            (name_length,) = struct.unpack_from(">h", data, pos)
            pos += 2 + name_length
            (partitions,) = struct.unpack_from(">i", data, pos)
            pos += 4
            for _ in range(partitions):
                partition, error = struct.unpack_from(">ih", data, pos)
                pos += 4 + 2 + 8 + 8  # partition, error, high watermark, last stable offset
                (aborted_transactions,) = struct.unpack_from(">i", data, pos)
                pos += 4 + 16 * max(aborted_transactions, 0)
                (length,) = struct.unpack_from(">i", data, pos)
                pos += 4
                records = data[pos : pos + max(length, 0)]
                pos += max(length, 0)
                if error:
                    name = _ERRORS.get(error, f"error code {error}")
                    msg = f"fetching {self._topic}[{partition}] failed: {name}"
                    raise BrokerError(msg)
                if records:
                    out.append((partition, records))
        return out


def read_committed(
    bootstrap_servers: str,
    topic: str,
    partitions: list[int],
    *,
    expected: int | None,
    idle_timeout_s: float,
    max_wait_s: float,
) -> tuple[list[LogRecord], int]:
    """Return ``topic``'s committed records and how many aborted ones were discarded.

    Stops when ``expected`` records were read; without ``expected``, after ``idle_timeout_s``
    with no new visible record; in any case after ``max_wait_s``.
    """
    records: list[LogRecord] = []
    with CommittedLogReader(bootstrap_servers, topic, partitions) as reader:
        started = last = time.monotonic()
        while time.monotonic() - started < max_wait_s:
            new = reader.poll()
            if new:
                records.extend(new)
                last = time.monotonic()
            if expected is not None and len(records) >= expected:
                break
            if expected is None and time.monotonic() - last > idle_timeout_s:
                break
        return records, reader.aborted
