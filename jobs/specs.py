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

    def __post_init__(self) -> None:
        if self.start not in START_MODES and not self.start.isdigit():
            msg = f"--start must be one of {', '.join(START_MODES)} or epoch ms, got {self.start!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class FileSourceSpec:
    """Read raw event records, one per line, from a file or a directory of files."""

    path: str


@dataclass(frozen=True)
class KafkaSinkSpec:
    """Write decisions, dead letters and late events to Kafka topics, exactly once."""

    bootstrap_servers: str
    decisions_topic: str = "decisions"
    dead_letter_topic: str = "events.dlq"
    late_topic: str = "events.late"
    profile_topic: str = "profiles"
    """Profile snapshots, when the job emits them (``--profile-snapshots``)."""
    erasure_topic: str = "erasures"
    """Erasure confirmations, when the job runs a decision policy (``--policy``)."""
    transactional_id_prefix: str = "journey-triggers"
    properties: dict[str, str] = field(default_factory=dict)


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
