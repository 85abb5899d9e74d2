"""Where a job reads and writes: Kafka for real runs, files for tests. No PyFlink import."""

from __future__ import annotations

from dataclasses import dataclass, field

from journey_triggers.errors import ConfigError

START_MODES = ("earliest", "latest", "group")


@dataclass(frozen=True)
class KafkaSourceSpec:
    """Read raw event records from a Kafka topic."""

    bootstrap_servers: str
    topic: str = "events"
    group_id: str = "journey-triggers"
    start: str = "earliest"
    """``earliest``, ``latest``, ``group`` (committed offsets, else earliest) or epoch ms."""
    bounded: bool = False
    """Stop at the end offsets the topic has when the job starts (replay, demo, tests)."""
    properties: dict[str, str] = field(default_factory=dict)
    """Extra Kafka client properties (``security.protocol``, ``sasl.*``, ``ssl.*``, ...)."""
    start_offsets: tuple[tuple[int, int], ...] = ()
    """``(partition, offset)`` to start each partition at (``journey-triggers replay`` finds them
    by time); overrides ``start``. Every partition of the topic must be listed."""
    stop_offsets: tuple[tuple[int, int], ...] = ()
    """``(partition, offset)`` to stop each partition before (exclusive); makes the read bounded
    at these offsets instead of the end offsets at start."""

    def __post_init__(self) -> None:
        if self.start not in START_MODES and not self.start.isdigit():
            msg = f"--start must be one of {', '.join(START_MODES)} or epoch ms, got {self.start!r}"
            raise ConfigError(msg)
        for name, offsets in (("start", self.start_offsets), ("stop", self.stop_offsets)):
            partitions = [partition for partition, _ in offsets]
            if len(set(partitions)) != len(partitions):
                msg = f"--{name}-offsets names a partition twice: {format_offsets(offsets)}"
                raise ConfigError(msg)
            if any(partition < 0 or offset < 0 for partition, offset in offsets):
                msg = f"--{name}-offsets must be >= 0: {format_offsets(offsets)}"
                raise ConfigError(msg)
        if self.stop_offsets and self.start_offsets:
            start = dict(self.start_offsets)
            if set(start) != {partition for partition, _ in self.stop_offsets}:
                msg = (
                    "--start-offsets and --stop-offsets must name the same partitions, got "
                    f"{format_offsets(self.start_offsets)} and {format_offsets(self.stop_offsets)}"
                )
                raise ConfigError(msg)
            behind = [p for p, stop in self.stop_offsets if stop < start[p]]
            if behind:
                msg = f"--stop-offsets before --start-offsets on partitions {behind}"
                raise ConfigError(msg)

    @property
    def is_bounded(self) -> bool:
        """Return whether the read stops (at the end offsets at start, or at ``stop_offsets``)."""
        return self.bounded or bool(self.stop_offsets)


def parse_offsets(text: str, flag: str) -> tuple[tuple[int, int], ...]:
    """Parse ``0:42,1:300`` (partition:offset pairs) as given to ``--start-offsets``."""
    pairs = []
    for item in text.split(","):
        partition, sep, offset = item.strip().partition(":")
        if not sep or not partition.strip().isdigit() or not offset.strip().isdigit():
            msg = f"{flag} takes PARTITION:OFFSET[,PARTITION:OFFSET...], got {text!r}"
            raise ConfigError(msg)
        pairs.append((int(partition), int(offset)))
    return tuple(pairs)


def format_offsets(offsets: tuple[tuple[int, int], ...]) -> str:
    """Return ``offsets`` as ``--start-offsets`` takes them: ``0:42,1:300``."""
    return ",".join(f"{partition}:{offset}" for partition, offset in offsets)


@dataclass(frozen=True)
class FileSourceSpec:
    """Read raw event records, one per line, from a file or a directory of files."""

    path: str


DELIVERY_GUARANTEES = ("exactly-once", "at-least-once")
"""The Kafka sinks' delivery guarantees (``--delivery``)."""


@dataclass(frozen=True)
class KafkaSinkSpec:
    """Write decisions, dead letters and late events to Kafka topics, exactly once."""

    bootstrap_servers: str
    decisions_topic: str = "decisions"
    dead_letter_topic: str = "events.dlq"
    late_topic: str = "events.late"
    duplicates_topic: str = "events.duplicates"
    """The dropped copies of events, when the job writes them (``--write-duplicates``)."""
    profile_topic: str = "profiles"
    """Profile snapshots, when the job emits them (``--profile-snapshots``)."""
    erasure_topic: str = "erasures"
    """Erasure confirmations, when the job runs a decision policy (``--policy``)."""
    transactional_id_prefix: str = "journey-triggers"
    properties: dict[str, str] = field(default_factory=dict)
    delivery: str = "exactly-once"
    """``exactly-once``: records become visible to ``read_committed`` consumers when the
    checkpoint that covers them completes. ``at-least-once``: visible at once, no transactions;
    after a failure the records since the last checkpoint are written again, so consumers
    deduplicate (decisions on ``decision_id``)."""

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY_GUARANTEES:
            msg = f"delivery must be one of {', '.join(DELIVERY_GUARANTEES)}, got {self.delivery!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class FileSinkSpec:
    """Write decisions, dead letters and late events as JSON lines under a directory."""

    directory: str


@dataclass(frozen=True)
class DiscardSinkSpec:
    """Compute everything and discard the output (Flink's blackhole connector): benchmarks."""


@dataclass(frozen=True)
class FileCatalogSpec:
    """Read the product catalog from JSON-lines files (see ``journey_triggers.catalog``)."""

    path: str
    """A file, or a directory whose files are all read, once, at start (bounded runs only:
    a live job reads its catalog from a topic, see ``jobs.sql.catalog_ddl``)."""


@dataclass(frozen=True)
class KafkaCatalogSpec:
    """Read the product catalog from a Kafka topic (compacted, keyed by product id)."""

    bootstrap_servers: str
    topic: str = "catalog"
    group_id: str = "journey-triggers-catalog"
    bounded: bool = False
    """Read up to the end offsets at start only (with a bounded events source)."""
    properties: dict[str, str] = field(default_factory=dict)


SourceSpec = KafkaSourceSpec | FileSourceSpec
CatalogSpec = FileCatalogSpec | KafkaCatalogSpec
SinkSpec = KafkaSinkSpec | FileSinkSpec | DiscardSinkSpec
