"""The product catalog's event time: record timestamps and watermarks set on a DataStream (JVM).

The catalog's raw SQL source (``sql.catalog_ddl``) has no watermark. Here its records get their
version time (``updated_at``; 0 for records without one and for invalid ones, which only go to
the dead letters) and a bounded-out-of-orderness watermark, and the stream becomes the table
:data:`jobs.sql.CATALOG_SOURCE` with that rowtime (``SOURCE_WATERMARK()``).

Why not in SQL: a Kafka SQL source marked a quiet catalog topic idle once, but not again after a
record arrived mid-run, so the temporal join then held every later candidate back (the live
catalog test got no decision within 180 s in 1 of 3 CI runs). The policy control topic had the
same defect and the same cure (``policy_stage._control_watermarks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobs import sql

if TYPE_CHECKING:
    from pyflink.table import StreamTableEnvironment


def catalog_watermarks(out_of_orderness_ms: int, idle_ms: int, whole: bool = False) -> Any:
    """Return the catalog's watermark strategy, idle after ``idle_ms`` (0: never).

    The watermark trails the newest version time by the bound plus 1 ms, as the events' does.
    A catalog read to its end (``whole``: a file, or a topic read ``bounded``) has no watermark
    until it is read whole. A file's lines need not be in version-time order (a price change
    of one product may come before another product's first listing), and a watermark taken
    from its records passed the versions not read yet when the read was slow (measured under
    CPU load: 16 absence decisions of the file-catalog test with no product, the product's only
    version being in the file). Read whole, nothing can pass a version not read yet. (The
    catalog's end then moves the lookup's watermark in one jump past many candidates; the
    lookup keeps the versions its pending candidates need, ``CatalogLookupFunction``.)
    """
    from pyflink.common import Duration, WatermarkStrategy

    if whole:
        return WatermarkStrategy.no_watermarks()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(out_of_orderness_ms)
    )
    if idle_ms > 0:
        strategy = strategy.with_idleness(Duration.of_millis(idle_ms))
    return strategy


def register_catalog_source(
    t_env: StreamTableEnvironment, out_of_orderness_ms: int, idle_ms: int, whole: bool
) -> None:
    """Register :data:`jobs.sql.CATALOG_SOURCE`: the raw catalog with its rowtime ``version_ts``.

    The version time of a record is its ``version_ms``, 0 for records without one and for
    invalid ones (which only go to the dead letters). It is set in the JVM
    (:func:`jobs.jvm_streams.with_event_time`), with no Python call per catalog record.

    ``idle_ms`` is 0 in bounded runs: there the catalog is read to its end, which releases the
    join, and idleness could let candidates pass a catalog that is merely slow.
    """
    from pyflink.table import DataTypes, Schema
    from pyflink.table.expressions import coalesce, col, lit

    from jobs.jvm_streams import with_event_time

    raw = t_env.from_path(sql.CATALOG_RAW)
    version_ms = coalesce(col("version_ms"), lit(0).cast(DataTypes.BIGINT()))
    stream = with_event_time(
        t_env,
        raw,
        version_ms,
        catalog_watermarks(out_of_orderness_ms, idle_ms, whole),
        "catalog-version-times",
    )
    # The rowtime is computed from the version column, not read as the stream's "rowtime"
    # metadata: with that metadata column, the temporal join read another column as the
    # version time (measured: a cart at 08:30 got the version of 08:40, and the joined
    # version_ts came out as the year 5471).
    schema = (
        Schema.new_builder()
        .column_by_expression("version_ts", "TO_TIMESTAMP_LTZ(COALESCE(version_ms, 0), 3)")
        .watermark("version_ts", "SOURCE_WATERMARK()")
        .build()
    )
    t_env.create_temporary_view(sql.CATALOG_SOURCE, t_env.from_data_stream(stream, schema))
