"""Typed job configuration: every default in one place.

The CLI (``journey_triggers/cli.py``) and the job's main (``jobs/triggers_job.py``) build this from
flags; tests build it directly. Durations are milliseconds here and strings like ``"15m"`` on the
command line.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from journey_triggers.errors import ConfigError
from journey_triggers.events import MAX_RECORD_CHARS
from journey_triggers.semantics.dedup import DEFAULT_DEDUP_HORIZON_MS

if TYPE_CHECKING:
    from jobs.specs import CatalogSpec, KafkaSourceSpec
    from journey_triggers.policy import Policy
    from journey_triggers.rules.model import Rule

EXECUTION_MODES = ("process", "thread")
SCORING_UDFS = ("pandas", "row")
UNKNOWN_EVENT_TYPES = ("dead-letter", "accept")
"""What the job does with a record whose ``event_type`` is not one of ``events.EVENT_TYPES``."""


@dataclass(frozen=True)
class InjectedFault:
    """Fault injection for recovery tests: the policy stage fails once.

    It fails at an instance's next input or timer once it has taken ``after_inputs`` inputs, 1 s
    has passed since it opened, and, when ``armed_by`` is set, that file exists: a test arms the
    fault at the moment it chooses (say, once the output holds records of an open
    transaction). ``marker`` is created just before the failure; when it exists already, the
    fault has fired and does not again (the recovered attempt runs through).
    """

    marker: str
    after_inputs: int = 0
    armed_by: str | None = None


@dataclass(frozen=True)
class JobConfig:
    """How the job treats time, state and Flink resources."""

    out_of_orderness_ms: int = 10_000
    max_record_chars: int = MAX_RECORD_CHARS
    """Longer records are dead letters (``oversized_record``), refused before they are parsed."""
    unknown_event_types: str = "dead-letter"
    """A record of an unknown ``event_type``: ``dead-letter`` (``unknown_event_type``) or
    ``accept``: it is processed like any event (activity, sessions, profile recency) but no
    rule can name its type."""
    max_ahead_ms: int = 0
    """A Kafka record whose ``ts`` is more than this after the record's timestamp is a dead
    letter (``ts_ahead_of_record_time``); 0: no bound. Files carry no record time."""
    max_behind_ms: int = 0
    """Likewise before it (``ts_behind_record_time``); 0: no bound."""
    """Bounded out-of-orderness: how far behind its partition's maximum an event may arrive."""
    idle_timeout_ms: int = 30_000
    """A source partition with no records for this long stops holding back the watermark.
    0 disables idleness."""
    abandonment_window_ms: int = 15 * 60_000
    """Cart abandonment: add_to_cart with no purchase within this window."""
    identity_window_ms: int = 0
    """Anonymous events belong to a customer who logs in within this long after them (see
    ``semantics.identity``); every decision then waits this long in event time. 0: links
    apply forwards only."""
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS
    """A record with the event id of a record kept at most this long before (event time) is a
    copy (dropped) or a conflict (dead letter), see ``semantics.dedup``; 0 keeps every record."""
    write_duplicates: bool = False
    """Also write each dropped copy of an event to the duplicates sink (``--write-duplicates``)."""
    profile_snapshots: bool = False
    """Also write the profile as of every event to the profiles sink (for debugging)."""
    state_ttl_ms: int = 0
    """Drop a key's state (profile, identity links, rule state) after this long without an
    update, in processing time; 0 keeps it forever."""
    parallelism: int = 2
    checkpoint_interval_ms: int = 5_000
    """Exactly-once output becomes visible to read_committed consumers at each checkpoint."""
    checkpoint_dir: str | None = None
    """Where checkpoints go (a URI, e.g. file:///data/ckpt or s3://bucket/ckpt); ``None`` uses
    a directory under the system temp dir, for local runs."""
    python_execution_mode: str = "process"
    """PyFlink's Python worker mode for Python operators: ``process`` or ``thread``."""
    flink_conf: dict[str, str] = field(default_factory=dict)
    """Extra Flink configuration, e.g. ``state.backend.type: rocksdb``."""
    model_path: str | None = None
    """The propensity model file (``journey-triggers train`` makes one); ``None`` runs without
    scoring, and decisions carry no score."""
    scoring_udf: str = "pandas"
    """``pandas`` (vectorized, Arrow batches) or ``row`` (one Python call per candidate: the
    benchmark's baseline)."""
    catalog: CatalogSpec | None = None
    """The product catalog that enriches decisions (``journey_triggers.catalog``), if any."""
    rules: tuple[Rule, ...] = ()
    """Rules to run (enabled ones); empty runs the built-in cart-abandonment rule."""
    policy: Policy | None = None
    """The decision policy (``journey_triggers.policy``); ``None`` writes every detected
    trigger with status ``fired`` and decides nothing."""
    policy_topic: KafkaSourceSpec | None = None
    """The control topic of live policy versions (``jobs.policy_stage``), if any."""
    rules_topic: KafkaSourceSpec | None = None
    """The rules control topic (``journey_triggers.rules.changes``): rule changes applied live
    by the engine, if any."""
    fail_once: InjectedFault | None = None
    """Fault injection for recovery tests (see ``InjectedFault``)."""

    def checkpoint_uri(self) -> str:
        """Return the checkpoint directory URI to use."""
        if self.checkpoint_dir:
            return self.checkpoint_dir
        return (Path(tempfile.gettempdir()) / "journey-triggers" / "checkpoints").as_uri()

    def active_rules(self) -> list[Rule]:
        """Return the enabled rules, or the built-in cart-abandonment rule when none are given."""
        from journey_triggers.rules.builtin import cart_abandonment

        if not self.rules:
            return [cart_abandonment(self.abandonment_window_ms)]
        return [rule for rule in self.rules if rule.enabled]

    def __post_init__(self) -> None:
        if self.out_of_orderness_ms < 0:
            msg = f"out-of-orderness must be >= 0 ms, got {self.out_of_orderness_ms}"
            raise ConfigError(msg)
        if self.max_ahead_ms < 0 or self.max_behind_ms < 0:
            msg = (
                f"event-time bounds must be >= 0 ms, got {self.max_ahead_ms}, {self.max_behind_ms}"
            )
            raise ConfigError(msg)
        if self.max_record_chars < 1:
            msg = f"max record chars must be >= 1, got {self.max_record_chars}"
            raise ConfigError(msg)
        if self.idle_timeout_ms < 0:
            msg = f"idle timeout must be >= 0 ms, got {self.idle_timeout_ms}"
            raise ConfigError(msg)
        if self.abandonment_window_ms <= 0:
            msg = f"abandonment window must be > 0 ms, got {self.abandonment_window_ms}"
            raise ConfigError(msg)
        if self.dedup_horizon_ms < 0:
            msg = f"dedup horizon must be >= 0 ms, got {self.dedup_horizon_ms}"
            raise ValueError(msg)
        if self.identity_window_ms < 0:
            msg = f"identity window must be >= 0 ms, got {self.identity_window_ms}"
            raise ConfigError(msg)
        if self.state_ttl_ms < 0:
            msg = f"state TTL must be >= 0 ms, got {self.state_ttl_ms}"
            raise ConfigError(msg)
        if self.parallelism < 1:
            msg = f"parallelism must be >= 1, got {self.parallelism}"
            raise ConfigError(msg)
        if self.checkpoint_interval_ms <= 0:
            msg = f"checkpoint interval must be > 0 ms, got {self.checkpoint_interval_ms}"
            raise ConfigError(msg)
        if self.scoring_udf not in SCORING_UDFS:
            msg = f"scoring UDF must be one of {', '.join(SCORING_UDFS)}, got {self.scoring_udf!r}"
            raise ConfigError(msg)
        if self.unknown_event_types not in UNKNOWN_EVENT_TYPES:
            msg = (
                f"unknown event types must be one of {', '.join(UNKNOWN_EVENT_TYPES)}, "
                f"got {self.unknown_event_types!r}"
            )
            raise ConfigError(msg)
        if self.python_execution_mode not in EXECUTION_MODES:
            msg = (
                f"python execution mode must be one of {', '.join(EXECUTION_MODES)}, "
                f"got {self.python_execution_mode!r}"
            )
            raise ConfigError(msg)
