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
