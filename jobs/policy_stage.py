"""The decision policy stage: the small stream of triggers, keyed by customer, in Python.

The detection SQL ends in one table of policy inputs: candidate triggers (the decision
record and its context, as JSON built in SQL) and the few events the policy reads
(consent updates, erasure requests, delivery feedback). That table becomes a DataStream,
keyed by customer, through a keyed function that runs ``semantics.policy``'s engine on
event-time timers; its output becomes a table again and goes to the decisions sink.
Erasure confirmations leave through a side output to their own sink.

With a control topic, policy versions arrive as broadcast records: every parallel instance
keeps the accepted versions in broadcast state (checkpointed), and each decision uses the
version in force at its event time. An invalid or stale control message is dead-lettered
with its reason, and the versions before it stay in force.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from journey_triggers.policy import Policy, PolicyBook, PolicyError, parse_policy_text
from journey_triggers.semantics.policy import CustomerPolicy, empty_state, entry_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyflink.table import StreamTableEnvironment, Table

    from journey_triggers.config import InjectedFault

OUTPUT_FIELDS = ("customer_id", "record")
REJECT_FIELDS = ("reason", "source", "source_partition", "source_offset", "raw")
REJECT_INVALID_CONTROL = "invalid_control_message"
REJECT_STALE_CONTROL = "stale_policy_version"
SAFETY_NET_MS = 1_000


def control_policy(
    book: PolicyBook, raw: str, published_ms: int, source: str
) -> tuple[PolicyBook, str | None]:
    """Return the book with a control message's policy added, or unchanged and the reason.

    A message without ``effective_from`` applies from its Kafka timestamp (when it was
    published), so a replay of the control topic applies every version at the same point.
    """
    try:
        policy = parse_policy_text(raw, source=source)
    except PolicyError as err:
        return book, f"{REJECT_INVALID_CONTROL}: {err}"
    if "effective_from" not in (_document(raw) or {}):
        from dataclasses import replace

        policy = replace(policy, effective_from_ms=published_ms)
    try:
        return book.with_version(policy), None
    except PolicyError as err:
        return book, f"{REJECT_STALE_CONTROL}: {err}"


def _document(raw: str) -> dict[str, Any] | None:
    import yaml

    try:
        document = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _inject_fault(fault: InjectedFault | None, inputs: int, opened: float) -> None:
    """Fail once, for recovery tests (see ``InjectedFault``): at an input or a timer."""
    if fault is None or inputs < fault.after_inputs or time.monotonic() - opened < 1:
        return
    if fault.armed_by is not None and not os.path.exists(fault.armed_by):
        return
    try:
        os.close(os.open(fault.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    msg = f"injected fault after {inputs} policy inputs (marker {fault.marker})"
    raise RuntimeError(msg)


class _Host:
    """What both keyed functions do with the engine: load, step, save, emit."""

    fault: InjectedFault | None = None

    def open_state(self, runtime_context: Any) -> None:
        from pyflink.common import Types
        from pyflink.datastream.state import ValueStateDescriptor

        self.state = runtime_context.get_state(ValueStateDescriptor("policy_state", Types.STRING()))
        group = runtime_context.get_metrics_group()
        self.group = group
        self.late_inputs = group.counter("policy_late_inputs")
        self.decisions = group.counter("policy_decisions")
        self.candidates: dict[str, Any] = {}
        self.inputs, self.opened = 0, time.monotonic()

    def _candidate_counter(self, rule: str) -> Any:
        """Return the ``candidates`` counter of ``rule``.

        In a ``rule`` group (a label), as the JVM's decision counters are
        (``jvm_streams.decision_metrics``).
        """
        counter = self.candidates.get(rule)
        if counter is None:
            counter = self.group.add_group("rule", rule).counter("candidates")
            self.candidates[rule] = counter
        return counter

    def _engine(self, customer: str) -> CustomerPolicy:
        text = self.state.value()
        return CustomerPolicy(customer, json.loads(text) if text else None)

    def _save(self, engine: CustomerPolicy) -> None:
        if engine.state == empty_state():
            self.state.clear()
        else:
            self.state.update(json.dumps(engine.state, separators=(",", ":")))

    def add(self, value: Any, timers: Any, book: PolicyBook) -> None:
        self.inputs += 1
        _inject_fault(self.fault, self.inputs, self.opened)
        entry = entry_of(value[2], value[1], value[3])
        if entry is None:
            return
        if entry["kind"] == "candidate":
            self._candidate_counter(str(entry["record"]["rule_id"])).inc()
        engine = self._engine(value[0])
        due = engine.add(entry, book)
        if due <= timers.current_watermark():
            self.late_inputs.inc()
        timers.register_event_time_timer(due)
        # A safety net: in process mode the event-time timer registration reaches the JVM
        # asynchronously, and one that arrives after the watermark passed it fires only at
        # the next watermark, which may never come while the input is idle (measured: 1
        # live run in 5 stalled). This one re-checks shortly; it only processes entries
        # already due, so decisions stay the same.
        timers.register_processing_time_timer(
            (timers.current_processing_time() // SAFETY_NET_MS + 2) * SAFETY_NET_MS
        )
        self._save(engine)

    def fire(
        self, customer: str, timestamp: int, ctx: Any, book: PolicyBook, erasures: Any
    ) -> Iterator[Any]:
        from pyflink.datastream import TimeDomain

        _inject_fault(self.fault, self.inputs, self.opened)
        timers = ctx.timer_service()
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:
            timestamp = timers.current_watermark()
        yield from self._fire(customer, timestamp, timers, book, erasures)

    def _fire(
        self, customer: str, timestamp: int, timers: Any, book: PolicyBook, erasures: Any
    ) -> Iterator[Any]:
        from pyflink.common import Row

        engine = self._engine(customer)
        outputs, dues = engine.advance(timestamp, book)
        for due in dues:
            timers.register_event_time_timer(due)
        self._save(engine)
        for record in outputs:
            text = json.dumps(record, sort_keys=True, separators=(",", ":"))
            if record["type"] == "erasure":
                yield erasures, Row(customer, text)
            else:
                self.decisions.inc()
                yield Row(customer, text)


def _types() -> tuple[Any, Any, Any]:
    from pyflink.common import Types
    from pyflink.datastream import OutputTag

    def records() -> Any:
        return Types.ROW_NAMED(list(OUTPUT_FIELDS), [Types.STRING(), Types.STRING()])

    rejects = Types.ROW_NAMED(
        list(REJECT_FIELDS),
        [Types.STRING(), Types.STRING(), Types.INT(), Types.LONG(), Types.STRING()],
    )
    # Separate type objects: PyFlink caches a Java object on the output type when it builds
    # the operator, and the function, which holds the tags, is pickled after that.
    return records(), OutputTag("erasures", records()), OutputTag("policy_rejects", rejects)


def _static_function(book: PolicyBook, erasures: Any, fault: InjectedFault | None = None) -> Any:
    from pyflink.datastream import KeyedProcessFunction

    class PolicyFunction(_Host, KeyedProcessFunction):  # type: ignore[misc]
        """Apply one policy per customer, in event-time order (see ``semantics.policy``)."""

        def open(self, runtime_context: Any) -> None:
            self.open_state(runtime_context)
            self.fault = fault

        def process_element(self, value: Any, ctx: Any) -> None:
            self.add(value, ctx.timer_service(), book)

        def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
            customer = ctx.get_current_key()
            yield from self.fire(customer, timestamp, ctx, book, erasures)

    return PolicyFunction()


def _control_watermarks(idle_timeout_ms: int) -> Any:
    """Return the control stream's watermarks: its publication times, idle when quiet.

    The policy function has two inputs and decides when both have passed a time (or the
    control one is idle). Generated on the stream rather than in the SQL source: the Kafka
    source's own idleness did not mark a control topic idle again after a message (measured:
    decisions stopped after the first control message).
    """
    from pyflink.common import Duration, WatermarkStrategy

    return WatermarkStrategy.for_monotonous_timestamps().with_idleness(
        Duration.of_millis(max(idle_timeout_ms, 1))
    )


def _versions_descriptor() -> Any:
    """Return the broadcast state of accepted control messages: version -> message.

    A new descriptor for each use: one that PyFlink has handed to Java cannot be pickled.
    """
    from pyflink.common import Types
    from pyflink.datastream.state import MapStateDescriptor

    return MapStateDescriptor("policy_versions", Types.INT(), Types.STRING())


def _broadcast_function(
    base: Policy,
    erasures: Any,
    rejects: Any,
    topic: str,
    fault: InjectedFault | None = None,
) -> Any:
    from pyflink.common import Row
    from pyflink.datastream import KeyedBroadcastProcessFunction

    class ControlledPolicyFunction(_Host, KeyedBroadcastProcessFunction):  # type: ignore[misc]
        """Apply the policy versions of the control topic (broadcast state) per customer."""

        def open(self, runtime_context: Any) -> None:
            self.open_state(runtime_context)
            self.fault = fault
            self.first_instance = runtime_context.get_index_of_this_subtask() == 0
            self.cache: tuple[tuple[Any, ...], PolicyBook] | None = None
            self.descriptor = _versions_descriptor()

        def _book(self, ctx: Any) -> PolicyBook:
            messages = tuple(sorted(ctx.get_broadcast_state(self.descriptor).items()))
            if self.cache is None or self.cache[0] != messages:
                book = PolicyBook((base,))
                for _, text in messages:
                    raw, published, source = json.loads(text)
                    book, _ = control_policy(book, raw, published, source)
                self.cache = (messages, book)
            return self.cache[1]

        def process_element(self, value: Any, ctx: Any) -> None:
            self.add(value, ctx.timer_service(), self._book(ctx))

        def process_broadcast_element(self, value: Any, ctx: Any) -> Iterator[Any]:
            raw, partition, offset, published = value[0], value[2], value[3], value[4]
            source = f"{topic}[{partition}]@{offset}"
            book, reason = control_policy(self._book(ctx), raw or "", published, source)
            if reason is None:
                state = ctx.get_broadcast_state(self.descriptor)
                version = max(p.version for p in book.versions)
                state.put(version, json.dumps([raw, published, source]))
            elif self.first_instance:  # every instance sees it; one reports it
                yield rejects, Row(reason, value[1], partition, offset, raw)

        def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
            customer = ctx.get_current_key()
            book = self._book(ctx)
            yield from self.fire(customer, timestamp, ctx, book, erasures)

    return ControlledPolicyFunction()


def apply_policy_stage(
    t_env: StreamTableEnvironment,
    inputs: Table,
    policy: Policy,
    control: tuple[Table, str] | None = None,
    idle_timeout_ms: int = 30_000,
    fault: InjectedFault | None = None,
    name: str = "decision-policy",
) -> tuple[Table, Table, Table | None]:
    """Return the decisions, the erasure confirmations and the rejected control messages.

    ``control`` is the control topic's table (line, src, src_partition, src_offset,
    published_ms) and the topic's name. ``name`` is the stage's operator name and uid (a
    backtest runs one stage per variant).
    """
    from pyflink.table.expressions import col

    from jobs.jvm_streams import (
        keyed_broadcast_process,
        keyed_by_first_column,
        keyed_process,
        with_event_time,
    )

    output, erasures, rejects = _types()
    # Keyed in the JVM, not with PyFlink's key_by: see jobs/jvm_streams.py.
    keyed = keyed_by_first_column(t_env, inputs)
    rejected: Table | None = None
    if control is None:
        function = _static_function(PolicyBook((policy,)), erasures, fault)
        decided = keyed_process(keyed, function, output)
    else:
        table, topic = control
        function = _broadcast_function(policy, erasures, rejects, topic, fault)
        published = with_event_time(
            t_env,
            table,
            col("published_ms"),
            _control_watermarks(idle_timeout_ms),
            "policy-control",
        )
        broadcast = published.broadcast(_versions_descriptor())
        decided = keyed_broadcast_process(keyed, broadcast, function, output)
        rejected = t_env.from_data_stream(decided.get_side_output(rejects))
    decided.name(name).uid(name)
    erased = t_env.from_data_stream(decided.get_side_output(erasures))
    return t_env.from_data_stream(decided), erased, rejected
