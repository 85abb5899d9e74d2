"""Replay a time range of a Kafka topic through the job, bounded, with a progress bar.

``journey-triggers replay --topic events --from 2027-01-01T00:00:00Z --to latest`` turns the
time range into offsets before the job starts, one ``[start, stop)`` range per partition:

- ``--from T`` starts each partition at the earliest offset whose record timestamp is at or
  after ``T``; ``earliest`` at the partition's first offset.
- ``--to T`` stops each partition before the earliest offset whose timestamp is at or after
  ``T`` (so ``T`` itself is left out); ``latest`` at the end offset when the replay starts.

Times are the Kafka records' timestamps (what Kafka's offsets-for-times looks up), not the
events' ``ts``. The job then reads exactly those ranges (``--start-offsets``/``--stop-offsets``)
and, as any bounded run, fires what is pending at the end. The sum of the ranges is the
estimate of the events to process: transaction markers and compacted gaps take offsets too,
so it can be a little high, never low.

``--offsets-lookup broker`` (the default) asks the broker (Kafka's ListOffsets by timestamp,
``KafkaConsumer.offsets_for_times``) and checks each answer against the records around it: a
broker that does not index by time gives a wrong answer, and the replay stops with an error
that names the partition, instead of replaying the wrong range. ``scan`` reads every record's
timestamp in the partitions instead: for Kafka-compatible brokers without a time index (some
answer every time lookup with offset 0); it reads the whole topic once.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from journey_triggers.errors import ConfigError, JourneyTriggersError

if TYPE_CHECKING:
    from collections.abc import Callable

LOOKUPS = ("broker", "scan")
_POLL_MS = 1_000
_FETCH_TIMEOUT_S = 15.0


class ReplayError(JourneyTriggersError):
    """The replay's range cannot be found, or its job failed."""


def parse_bound(text: str, flag: str, open_word: str) -> int | None:
    """Return a ``--from``/``--to`` bound as epoch ms, or ``None`` for ``open_word``.

    ``open_word`` is ``earliest`` for ``--from`` and ``latest`` for ``--to``. A bound is epoch
    milliseconds, or ISO-8601 (``2027-01-01``, ``2027-01-01T08:00:00Z``,
    ``2027-01-01T09:00:00+01:00``); without a zone it is UTC.
    """
    value = text.strip()
    if value == open_word:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"{flag} takes {open_word}, epoch ms or an ISO-8601 time, got {text!r}"
        raise ConfigError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(ms: int | None, open_word: str = "") -> str:
    """Render epoch ms as ISO-8601 UTC (``open_word`` for ``None``)."""
    if ms is None:
        return open_word
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class PartitionRange:
    """The offsets ``[start, stop)`` of one partition that the replay reads."""

    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Return how many offsets the range spans."""
        return self.stop - self.start


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay reads: a topic, a time range and the offsets it comes to."""

    topic: str
    from_ms: int | None
    to_ms: int | None
    ranges: tuple[PartitionRange, ...]

    @property
    def estimated_events(self) -> int:
        """Return the offsets the ranges span: the events to process, or a few more."""
        return sum(r.size for r in self.ranges)

    @property
    def start_offsets(self) -> tuple[tuple[int, int], ...]:
        """Return ``(partition, offset)`` of each range's start, for ``--start-offsets``."""
        return tuple((r.partition, r.start) for r in self.ranges)

    @property
    def stop_offsets(self) -> tuple[tuple[int, int], ...]:
        """Return ``(partition, offset)`` of each range's stop, for ``--stop-offsets``."""
        return tuple((r.partition, r.stop) for r in self.ranges)

    def describe(self) -> str:
        """Return the plan for people: the range, each partition's offsets, the estimate."""
        parts = ", ".join(f"{r.partition}: {r.start}..{r.stop}" for r in self.ranges)
        return (
            f"replay of {self.topic} from {iso(self.from_ms, 'earliest')} "
            f"to {iso(self.to_ms, 'latest')}: offsets [start..stop) {parts}; "
            f"about {self.estimated_events:,} events"
        )


def client_config(properties: dict[str, str]) -> dict[str, Any]:
    """Return kafka-python settings for the job's ``--kafka-property`` client properties.

    Java client names map to kafka-python's where it has them (``security.protocol`` is
    ``security_protocol``), and a PLAIN or SCRAM ``sasl.jaas.config`` gives the user name and
    password. Anything else cannot be used by the offset lookup, which says so.
    """
    from kafka import KafkaConsumer

    known = KafkaConsumer.DEFAULT_CONFIG
    config: dict[str, Any] = {}
    for key, value in properties.items():
        name = key.replace(".", "_")
        if name in known:
            config[name] = value
        elif key == "sasl.jaas.config":
            config.update(_jaas_credentials(value))
        else:
            print(
                f"replay: the offset lookup ignores the Kafka property {key} (kafka-python "
                "has no such setting); the job itself uses it",
                file=sys.stderr,
            )
    return config


def _jaas_credentials(jaas: str) -> dict[str, str]:
    import re

    found = dict(re.findall(r'(username|password)\s*=\s*"([^"]*)"', jaas))
    result = {}
    if "username" in found:
        result["sasl_plain_username"] = found["username"]
    if "password" in found:
        result["sasl_plain_password"] = found["password"]
    return result


def plan_replay(
    bootstrap_servers: str,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    *,
    lookup: str = "broker",
    client: dict[str, Any] | None = None,
) -> ReplayPlan:
    """Return the offsets of ``topic`` whose record timestamps are in ``[from_ms, to_ms)``.

    ``None`` is open: the partition's first offset, or its end offset now.
    """
    from kafka import KafkaConsumer, TopicPartition

    if lookup not in LOOKUPS:
        msg = f"--offsets-lookup must be one of {', '.join(LOOKUPS)}, got {lookup!r}"
        raise ConfigError(msg)
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        msg = f"--to ({iso(to_ms)}) is before --from ({iso(from_ms)})"
        raise ConfigError(msg)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        **(client or {}),
    )
    try:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            msg = f"topic {topic!r} does not exist on {bootstrap_servers}"
            raise ReplayError(msg)
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        begin = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        ranges = []
        for tp in partitions:
            first, last = begin[tp], end[tp]
            if lookup == "scan":
                times = _timestamps(consumer, tp, first, last)
                start = first if from_ms is None else _first_at(times, from_ms, last)
                stop = last if to_ms is None else _first_at(times, to_ms, last)
            else:
                start = first if from_ms is None else _broker_lookup(consumer, tp, from_ms, last)
                stop = last if to_ms is None else _broker_lookup(consumer, tp, to_ms, last)
            ranges.append(PartitionRange(tp.partition, start, max(start, stop)))
        return ReplayPlan(topic, from_ms, to_ms, tuple(ranges))
    finally:
        consumer.close()


def _first_at(times: list[tuple[int, int]], at_ms: int, end: int) -> int:
    """Return the first offset whose timestamp is at or after ``at_ms`` (``end``: none)."""
    return next((offset for offset, ts in times if ts >= at_ms), end)


def _timestamps(consumer: Any, tp: Any, first: int, last: int) -> list[tuple[int, int]]:
    """Return ``(offset, timestamp)`` of every record of the partition in ``[first, last)``."""
    times: list[tuple[int, int]] = []
    if last <= first:
        return times
    consumer.assign([tp])
    consumer.seek(tp, first)
    deadline = time.monotonic() + _FETCH_TIMEOUT_S
    while consumer.position(tp) < last:
        batch = consumer.poll(timeout_ms=_POLL_MS).get(tp, [])
        if batch:
            deadline = time.monotonic() + _FETCH_TIMEOUT_S
        times.extend((r.offset, r.timestamp) for r in batch if r.offset < last)
        if time.monotonic() > deadline:
            msg = (
                f"reading the timestamps of {tp.topic}-{tp.partition} stalled at offset "
                f"{consumer.position(tp)} of {last}"
            )
            raise ReplayError(msg)
    return times


def _broker_lookup(consumer: Any, tp: Any, at_ms: int, end: int) -> int:
    """Return the broker's first offset at or after ``at_ms``, checked against the records."""
    answer = consumer.offsets_for_times({tp: at_ms}).get(tp)
    offset = end if answer is None or answer.offset < 0 else min(answer.offset, end)
    found = _record_from(consumer, tp, offset, end)
    before = _record_from(consumer, tp, offset - 1, offset) if offset > 0 else None
    wrong = None
    if found is not None and found[1] < at_ms:
        wrong = f"the record at offset {found[0]} has timestamp {iso(found[1])}, before it"
    elif before is not None and before[1] >= at_ms:
        wrong = f"the record at offset {before[0]} before it has timestamp {iso(before[1])}"
    if wrong:
        msg = (
            f"the broker's offsets-for-times answer for {tp.topic}-{tp.partition} at "
            f"{iso(at_ms)} is wrong: it gave offset {offset}, and {wrong}. This broker does not "
            "look offsets up by time; give "
            "--offsets-lookup scan to find them from the records' timestamps"
        )
        raise ReplayError(msg)
    return offset


def _record_from(consumer: Any, tp: Any, offset: int, end: int) -> tuple[int, int] | None:
    """Return ``(offset, timestamp)`` of the first record at ``offset`` or after, before ``end``."""
    if offset >= end:
        return None
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + _FETCH_TIMEOUT_S
    while time.monotonic() < deadline:
        for record in consumer.poll(timeout_ms=_POLL_MS, max_records=1).get(tp, []):
            return (record.offset, record.timestamp) if record.offset < end else None
        if consumer.position(tp) >= end:
            return None
    msg = f"reading {tp.topic}-{tp.partition} at offset {offset} timed out"
    raise ReplayError(msg)


class Progress:
    """A progress line: events processed of the estimate, the rate and the time left.

    On a terminal it redraws one line; elsewhere (logs, CI) it prints a line every
    ``every_s`` seconds, and always the final one (``quiet``: only that).
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        every_s: float = 10.0,
        quiet: bool = False,
        label: str = "replay",
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream
        self.every_s = every_s
        self.quiet = quiet
        self.tty = stream.isatty() and not quiet
        self._last_print = -math.inf
        self._started: float | None = None
        self._before_first: float | None = None
        self._read_all: tuple[float, float] | None = None
        self._width = 0

    def line(self, processed: int, elapsed_s: float) -> str:
        """Return the progress line for ``processed`` events after ``elapsed_s`` seconds."""
        shown = min(processed, self.total) if self.total else processed
        share = shown / self.total if self.total else 1.0
        width = 30
        filled = round(width * share)
        bar = "#" * filled + "." * (width - filled)
        rate = processed / elapsed_s if elapsed_s > 0 else 0.0
        left = (self.total - shown) / rate if rate > 0 else math.inf
        eta = _clock(left) if math.isfinite(left) else "--:--:--"
        return (
            f"{self.label} [{bar}] {shown:,} / {self.total:,} events {share:4.0%}  "
            f"{rate:,.0f} events/s  ETA {eta}"
        )

    def update(self, processed: int, now: float, *, final: bool = False) -> None:
        """Show the progress at monotonic time ``now``.

        The clock starts at the first records (planning and start-up are not reading). Once
        every record is read, the job still decides what is pending: the line says so, with
        the time since.
        """
        if processed == 0:
            self._before_first = now
        elif self._started is None:
            # The first records were read since the last poll that saw none.
            self._started = self._before_first if self._before_first is not None else now
        elapsed = now - self._started if self._started is not None else 0.0
        text = self.line(processed, elapsed)
        if processed >= self.total and not final:
            if self._read_all is None:
                self._read_all = (now, elapsed)
            at, took = self._read_all
            text = (
                f"{self.label}: all {self.total:,} events read in {took:.0f}s; deciding what "
                f"is pending ({now - at:.0f}s)"
            )
        if self.tty:
            padded = text.ljust(self._width)  # clear what a longer line left
            self._width = len(text)
            self.stream.write("\r" + padded + ("\n" if final else ""))
            self.stream.flush()
        elif final or (not self.quiet and now - self._last_print >= self.every_s):
            self._last_print = now
            self.stream.write(text + "\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


SOURCE_RECORDS_METRIC = "numRecordsOut"
"""The source operators' metric of records read: the progress bar's numerator."""


def source_records(rest: Any, job_id: str) -> int | None:
    """Return how many records the job's source has read (None: not known yet).

    Flink's planner may scan the source more than once (the dead letters and the valid events
    are separate scans of the same topic): each scan reads every record, so the least advanced
    one is the job's progress.
    """
    from urllib.parse import quote

    counts = []
    for vertex in rest.rest(f"/jobs/{job_id}")["vertices"]:
        if not vertex["name"].startswith("Source:"):
            continue
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        ids = [
            m["id"]
            for m in rest.rest(path)
            if m["id"].startswith("Source__") and m["id"].endswith(f".{SOURCE_RECORDS_METRIC}")
        ]
        if not ids:
            return None  # registered once the scan's first records flow
        found = rest.rest(f"{path}?get={quote(','.join(ids))}&agg=sum")
        counts.append(sum(int(float(metric["sum"])) for metric in found))
    return min(counts) if counts else None


def watch(
    wait: Callable[[], object],
    progress: Progress,
    processed: Callable[[], int | None],
    *,
    poll_s: float = 1.0,
) -> int:
    """Run ``wait`` (the job's ``TableResult.wait``) and show progress until it returns.

    Return the last count. A local job's minicluster, its REST API with it, shuts down as the
    job ends, so the end is ``wait`` returning (or raising: a failed job), not a status. A
    finished bounded job has read its whole range: the final line shows the estimate.
    """
    import threading

    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            wait()
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(err)
        else:
            outcome.append(None)

    waiter = threading.Thread(target=run, name="replay-wait", daemon=True)
    waiter.start()
    last = 0
    while waiter.is_alive():
        try:
            count = processed()
        except (OSError, KeyError, ValueError):  # not up yet, or going away as the job ends
            count = None
        if count is not None:
            last = count
        progress.update(last, time.monotonic())
        waiter.join(poll_s)
    if outcome and outcome[0] is not None:
        raise outcome[0]
    progress.update(max(last, progress.total), time.monotonic(), final=True)
    return last
