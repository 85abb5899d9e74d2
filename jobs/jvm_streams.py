"""Table-to-DataStream steps that keep per-record work in the JVM.

PyFlink's ``key_by`` and its ``assign_timestamps_and_watermarks`` with a Python timestamp
assigner each put a Python operator on the stream: a round trip to the Python worker for every
record. Such an operator also holds a watermark back while its bundle is open, and one released
after the operator's input went idle is dropped, because an idle output drops watermarks
(Flink's ``RecordWriterOutput``). In front of the policy stage that stalled a live job
(``tests/integration/test_policy_live.py`` gives the figures).

The helpers here let the SQL shape the records instead (the key, or the event time, next to a
``ROW`` of every column), and then use the same Java functions PyFlink itself uses after its
Python step: ``KeyByKeySelector`` for keys, ``CustomTimestampAssigner`` and
``RemoveTimestampMapFunction`` for event time. They use two PyFlink internals, the
``KeyedStream`` constructor and ``_from_java_type``, both as PyFlink 2.0's own ``key_by`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflink.table import Expression, StreamTableEnvironment, Table


def never_idle(t_env: StreamTableEnvironment, table: Table, name: str) -> Table:
    """Return ``table`` with its rows and watermarks, but no idle status ever sent downstream.

    The operator is ``journeytriggers.NeverIdleOperator``, chained after ``table``'s last
    operator and given the uid ``name``. Its own input still leaves quiet partitions out of
    the watermark. Downstream, an input that was idle and became active again is left out of
    its operator's watermark until it catches up, and the rows it then sends behind that
    watermark are dropped as late by every event-time operator. Each OVER subtask holds its
    rows until the watermark passes them, so one that went idle holding rows lost them
    whenever another subtask's watermark reached the next operator first (measured: a live job
    at parallelism 2 never decided two customers' last carts). ``table``'s rowtime column
    must be ``ts``.
    """
    from pyflink.java_gateway import get_gateway
    from pyflink.table import Schema

    gateway = get_gateway()
    active = _through(t_env, table, gateway.jvm.journeytriggers.NeverIdleOperator(), name)
    row_type = table._j_table.getResolvedSchema().toPhysicalRowDataType()
    j_schema = (
        gateway.jvm.org.apache.flink.table.api.Schema.newBuilder()
        .fromRowDataType(row_type)
        .watermark("ts", "SOURCE_WATERMARK()")
        .build()
    )
    return t_env.from_data_stream(_python_stream(active), Schema(j_schema))


DEDUP_UID = "deduplicate"
"""The uid and name of the step that drops copies (``journeytriggers.Deduplication``)."""


def deduplicated(
    t_env: StreamTableEnvironment, table: Table, horizon_ms: int, name: str
) -> tuple[Table, Table, Table]:
    """Return ``table``'s rows without copies, the conflicting rows, the dropped copies.

    The rules are ``semantics.dedup``'s.
    ``journeytriggers.Deduplication`` keys the rows by their own identity and holds each until
    the watermark passes it (uid ``name``); its counters ``duplicate_events`` and
    ``conflicting_event_ids`` are in that operator's metric group. ``table``'s columns start
    with event_id, event_type, known_customer, identity_token, ts (its rowtime), ts_ms, line.
    The first table keeps ``ts`` as its rowtime, with the step's watermark.
    """
    from pyflink.java_gateway import get_gateway
    from pyflink.table import Schema

    gateway = get_gateway()
    dedup = gateway.jvm.journeytriggers.Deduplication
    j_stream = t_env.to_data_stream(table)._j_data_stream
    unique = dedup.apply(j_stream, horizon_ms, name)
    row_type = table._j_table.getResolvedSchema().toPhysicalRowDataType()
    schema = gateway.jvm.org.apache.flink.table.api.Schema.newBuilder().fromRowDataType(row_type)
    with_time = Schema(schema.watermark("ts", "SOURCE_WATERMARK()").build())
    plain = Schema(
        gateway.jvm.org.apache.flink.table.api.Schema.newBuilder().fromRowDataType(row_type).build()
    )
    return (
        t_env.from_data_stream(_python_stream(unique), with_time),
        t_env.from_data_stream(_python_stream(dedup.conflicts(unique)), plain),
        t_env.from_data_stream(_python_stream(dedup.duplicates(unique)), plain),
    )


LATE_METRIC = "late_events"
"""The counter of the records sent to the late topic (operator ``count-late_events``)."""
DEAD_LETTER_METRIC = "dead_letters"
"""The counter of the records sent to the dead-letter topic (operator ``count-dead_letters``)."""


def counted(t_env: StreamTableEnvironment, table: Table, metric: str) -> Table:
    """Return ``table``'s rows unchanged, each counted in the Flink counter ``metric``.

    The operator is ``journeytriggers.CountingOperator``, named and given the uid
    ``count-<metric>``; its counter is in that operator's metric group (Flink's REST API and
    the metric reporters show it as ``<subtask>.count-<metric>.<metric>``).
    """
    from pyflink.java_gateway import get_gateway

    operator = get_gateway().jvm.journeytriggers.CountingOperator(metric)
    return t_env.from_data_stream(
        _python_stream(_through(t_env, table, operator, f"count-{metric}"))
    )


DECISION_METRICS = "decision-metrics"
"""The operator that counts decisions per rule and times them (``decision_metrics``)."""


def decision_metrics(
    t_env: StreamTableEnvironment,
    table: Table,
    columns: tuple[str, str, str | None, str],
    *,
    candidates: bool,
) -> Table:
    """Return ``table``'s decision rows unchanged, counted per rule and timed.

    ``columns`` names the rule id, status, suppression reason (``None``: there is none) and
    trigger time (epoch ms) columns. The operator is ``journeytriggers.DecisionMetricsOperator``
    (uid and name :data:`DECISION_METRICS`). Per rule (a ``rule`` label) it counts ``fired``,
    ``suppressed`` per ``reason`` and ``deferred``, and with ``candidates`` every row as a
    candidate too (no policy: every trigger is a decision). Its histogram
    ``decision_latency_ms`` is the emit's wall-clock time minus the trigger time.
    """
    from pyflink.java_gateway import get_gateway

    names = list(table.get_schema().get_field_names())
    rule, status, reason, at = columns
    operator = get_gateway().jvm.journeytriggers.DecisionMetricsOperator(
        names.index(rule),
        names.index(status),
        -1 if reason is None else names.index(reason),
        names.index(at),
        candidates,
    )
    out = _through(t_env, table, operator, DECISION_METRICS)
    return t_env.from_data_stream(_python_stream(out))


def _through(t_env: StreamTableEnvironment, table: Table, operator: Any, name: str) -> Any:
    """Return the Java stream of ``table``'s rows after ``operator`` (named and uid ``name``).

    The operator is chained after ``table``'s last operator; it must emit rows of its input's
    type.
    """
    j_stream = t_env.to_data_stream(table)._j_data_stream
    return j_stream.transform(name, j_stream.getType(), operator).uid(name).name(name)


def through_java(t_env: StreamTableEnvironment, table: Table, operator: Any, name: str) -> Table:
    """Return ``table``'s rows after a Java ``operator``, as a table again.

    The operator emits rows of its input's type; it is chained after ``table``'s last operator,
    named and given the uid ``name``.
    """
    return t_env.from_data_stream(_python_stream(_through(t_env, table, operator, name)))


def _python_stream(j_stream: Any) -> Any:
    from pyflink.datastream import DataStream

    return DataStream(j_stream)


def _row_type(table: Table) -> Any:
    """Return the Java ``RowTypeInfo`` of ``table``'s rows, the type PyFlink operators take."""
    from pyflink.java_gateway import get_gateway

    converter = get_gateway().jvm.org.apache.flink.table.types.utils.LegacyTypeInfoDataTypeConverter
    return converter.toLegacyTypeInfo(table._j_table.getResolvedSchema().toPhysicalRowDataType())


def keyed_by_first_column(t_env: StreamTableEnvironment, table: Table) -> Any:
    """Return ``table`` as a stream keyed by its first column (a STRING), keyed in the JVM.

    The result is the ``KeyedStream`` that ``to_data_stream(table).key_by(lambda r: r[0])``
    gives: the same Java key selector, key type and element type, without the Python operator.
    """
    from pyflink.common import Types
    from pyflink.common.typeinfo import _from_java_type
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway
    from pyflink.table.expressions import col, row

    names = table.get_schema().get_field_names()
    pairs = table.select(
        col(names[0]).alias("key"), row(*(col(name) for name in names)).alias("value")
    )
    pair_type = _from_java_type(_row_type(pairs))
    stream = t_env.to_append_stream(pairs, pair_type)
    gateway = get_gateway()
    j_keyed = stream._j_data_stream.keyBy(
        gateway.jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, pair_type.get_field_types()[1], stream)


def with_event_time(
    t_env: StreamTableEnvironment, table: Table, time_ms: Expression, strategy: Any, name: str
) -> Any:
    """Return ``table`` as a stream whose record timestamps are ``time_ms`` (a non-null BIGINT).

    ``strategy`` is a ``WatermarkStrategy`` without a timestamp assigner (bounds, idleness);
    the watermarks it generates come with the stream. The operator is named and given the uid
    ``name``.
    """
    from pyflink.common import Types
    from pyflink.common.typeinfo import _from_java_type
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway
    from pyflink.table.expressions import col, row

    names = table.get_schema().get_field_names()
    # A projection: its columns are all physical (computed columns would be left out).
    row_type = _row_type(table.select(*(col(name) for name in names)))
    pairs = table.select(row(*(col(name) for name in names)).alias("value"), time_ms.alias("ts"))
    stream = t_env.to_append_stream(pairs, Types.TUPLE([_from_java_type(row_type), Types.LONG()]))
    eventtime = get_gateway().jvm.org.apache.flink.streaming.api.functions.python.eventtime
    assigned = stream._j_data_stream.assignTimestampsAndWatermarks(
        strategy._j_watermark_strategy.withTimestampAssigner(eventtime.CustomTimestampAssigner())
    )
    assigned.name(name).uid(name)
    return DataStream(assigned.map(eventtime.RemoveTimestampMapFunction(), row_type))


def keyed_process(keyed: Any, function: Any, output_type: Any) -> Any:
    """Return ``keyed.process(function, output_type)``, its timers whole in every checkpoint.

    In process mode the operator is ``journeytriggers.CheckpointedTimersKeyedProcessOperator``:
    PyFlink's own, which also registers the timers of its last bundle before each checkpoint
    barrier (without it, a job restored from a checkpoint lost them: see that class). The
    arguments are those PyFlink 2.0's ``KeyedStream.process`` passes. In thread mode timers
    are registered at once, and PyFlink's operator is used.
    """
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    j_stream = keyed._j_data_stream
    process_mode = _process_mode_function(j_stream, function, "KEYED_PROCESS")
    if process_mode is None:
        return keyed.process(function, output_type=output_type)
    j_conf, info = process_mode
    j_output = output_type.get_java_type_info()
    operator = get_gateway().jvm.journeytriggers.CheckpointedTimersKeyedProcessOperator(
        j_conf, info, j_stream.getTransformation().getOutputType(), j_output
    )
    return DataStream(j_stream.transform("KEYED PROCESS", j_output, operator))


def keyed_broadcast_process(keyed: Any, broadcast: Any, function: Any, output_type: Any) -> Any:
    """Return ``keyed.connect(broadcast).process(function, output_type)``, timers kept.

    As :func:`keyed_process`, with ``journeytriggers.CheckpointedTimersKeyedCoProcessOperator``
    and the transformation PyFlink 2.0's keyed-broadcast translator builds.
    """
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    j_keyed, j_broadcast = keyed._j_data_stream, broadcast.input_stream._j_data_stream
    process_mode = _process_mode_function(j_broadcast, function, "KEYED_CO_BROADCAST_PROCESS")
    if process_mode is None:
        return keyed.connect(broadcast).process(function, output_type=output_type)
    j_conf, info = process_mode
    j_env = keyed.get_execution_environment()._j_stream_execution_environment
    j_stream = get_gateway().jvm.journeytriggers.CheckpointedTimersKeyedCoProcessOperator.connect(
        j_env,
        "Keyed-Co-Process-Broadcast",
        j_conf,
        info,
        j_keyed.getTransformation(),
        j_broadcast.getTransformation(),
        j_keyed.getKeyType(),
        j_keyed.getKeySelector(),
        output_type.get_java_type_info(),
        j_env.getParallelism(),
    )
    return DataStream(j_stream)


def _process_mode_function(j_stream: Any, function: Any, kind: str) -> tuple[Any, Any] | None:
    """Return the Java configuration and function info PyFlink builds for ``function``.

    ``kind`` names a ``UserDefinedDataStreamFunction`` type. ``None`` in thread mode, where
    PyFlink's own operators are kept.
    """
    from pyflink.datastream.data_stream import _create_j_data_stream_python_function_info
    from pyflink.fn_execution.flink_fn_execution_pb2 import UserDefinedDataStreamFunction
    from pyflink.java_gateway import get_gateway
    from pyflink.util.java_utils import get_j_env_configuration

    j_conf = get_j_env_configuration(j_stream.getExecutionEnvironment())
    option = get_gateway().jvm.org.apache.flink.python.PythonOptions.PYTHON_EXECUTION_MODE
    if str(j_conf.get(option)) == "thread":
        return None
    kinds = UserDefinedDataStreamFunction
    return j_conf, _create_j_data_stream_python_function_info(function, getattr(kinds, kind))
