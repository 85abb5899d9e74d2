"""The Flink SQL that the triggers job runs, built as strings (no PyFlink import).

The pipeline, all in JVM operators:

1. ``jt_source``: raw records (one string each) from Kafka or files, with their source position,
   an event-time column parsed from ``ts`` and a bounded-out-of-orderness watermark.
2. ``jt_classified``: each record's dead-letter reason (NULL when valid), its typed fields, and
   the highest timestamp seen so far in its source partition, in arrival order.
3. Records with a reason go to the dead-letter sink; valid records behind their partition's
   maximum by more than the bound go to the late sink; the rest, keyed by customer after
   identity stitching (``events_views``), form ``jt_events``.
4. The rule engine (``jobs/engine_stage.py``, a keyed Java operator) evaluates every rule, as
   data, over ``jt_events_profile``; its candidates come back here for scoring, the policy
   stage and the sinks. The semantics are stated in plain Python in
   ``journey_triggers.semantics.evaluator``, and tests hold the two equal.
"""

from __future__ import annotations

from jobs.specs import (
    CatalogSpec,
    DiscardSinkSpec,
    FileSinkSpec,
    FileSourceSpec,
    KafkaCatalogSpec,
    KafkaSourceSpec,
    SinkSpec,
)
from journey_triggers import events as ev
from journey_triggers.catalog import REJECT_INVALID_CATALOG_RECORD
from journey_triggers.config import JobConfig
from journey_triggers.semantics import profile as pf
from journey_triggers.semantics.conditions import NUMBER
from journey_triggers.semantics.dedup import REJECT_CONFLICTING_EVENT_ID
from journey_triggers.semantics.erasure import EPOCH_SEPARATOR, ERASURE_EVENT
from udfs.features import FEATURE_NAMES

SOURCE = "jt_source"
CLASSIFIED = "jt_classified"
CLASSIFIED_ACTIVE = "jt_classified_active"
VALID_ACTIVE = "jt_valid_active"
ON_TIME_ALL = "jt_on_time_all"
ON_TIME_UNIQUE = "jt_on_time_unique"
CONFLICTS = "jt_conflicting_event_ids"
DUPLICATES = "jt_duplicate_events"
ON_TIME = "jt_on_time"
ANONYMOUS = "jt_anonymous"
ANONYMOUS_NEXT = "jt_anonymous_next"
RESOLVED = "jt_resolved"
UNLINKED = "jt_unlinked"
EVENTS = "jt_events"
EVENTS_CONTEXT = "jt_events_context"
EVENTS_PROFILE = "jt_events_profile"
DECISIONS_SINK = "jt_decisions"
DEAD_LETTER_SINK = "jt_dead_letters"
LATE_SINK = "jt_late_events"
PROFILES_SINK = "jt_profiles"
DUPLICATES_SINK = "jt_duplicates"
ERASURES_SINK = "jt_erasures"
POLICY_CONTROL = "jt_policy_control"
RULES_CONTROL = "jt_rules_control"
"""The rules control topic's messages (``--rules-topic``)."""
RULE_REJECTS = "jt_rule_rejects"
"""The rules control topic's rejected messages (invalid, stale, unknown rule)."""
POLICY_REJECTS = "jt_policy_rejects"
CATALOG_RAW = "jt_catalog_raw"
CATALOG_SOURCE = "jt_catalog_source"
CATALOG = "jt_catalog"

# SQL's regex for ISO-8601: groups are date, time, fraction, zone (see events.ISO_8601).
_ISO_SQL = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_UTC_MS_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"


def quote(text: str) -> str:
    """Return ``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def interval(ms: int) -> str:
    """Return a SQL day-to-second interval literal of ``ms`` milliseconds."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return (
        f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' "
        f"DAY({max(2, len(str(days)))}) TO SECOND(3)"
    )


def json_value(path: str, column: str = "line") -> str:
    """Return ``JSON_VALUE`` of ``path`` in the raw record."""
    return f"JSON_VALUE({column}, {quote(path)})"


def json_is_string(path: str, column: str = "line") -> str:
    """Return a predicate: the field at ``path`` is a JSON string (not a number or object).

    An unconditional array wrapper serializes any value as ``[value]``, so only strings start
    with ``["``.
    """
    return f"JSON_QUERY({column}, {quote(path)} WITH UNCONDITIONAL ARRAY WRAPPER) LIKE '[\"%'"


def non_empty_string(path: str) -> str:
    """Return a predicate, never NULL: the field at ``path`` is a non-empty JSON string.

    A missing field makes the JSON functions return NULL; ``COALESCE`` turns that into FALSE so
    that ``NOT`` of it is TRUE (three-valued logic would otherwise let the record through).
    """
    return f"COALESCE({json_is_string(path)} AND CHAR_LENGTH({json_value(path)}) > 0, FALSE)"


def _timestamp_ms_expression(path: str = "$.ts") -> str:
    """Epoch ms of the record's ``ts`` (same rules as ``events.parse_timestamp_ms``) or NULL."""
    ts = json_value(path)
    iso = quote(_ISO_SQL)
    group = {n: f"REGEXP_EXTRACT({ts}, {iso}, {n})" for n in (1, 2, 3, 4)}
    local = f"CONCAT({group[1]}, ' ', {group[2]})"
    local_secs = f"UNIX_TIMESTAMP({local}, 'yyyy-MM-dd HH:mm:ss')"
    zone = group[4]
    zone_hours = f"CAST(SUBSTR({zone}, 2, 2) AS BIGINT)"
    zone_minutes = f"CAST(SUBSTR({zone}, 5, 2) AS BIGINT)"
    offset_minutes = (
        f"(CASE WHEN {zone} = 'Z' THEN 0 "
        f"WHEN SUBSTR({zone}, 1, 1) = '+' THEN {zone_hours} * 60 + {zone_minutes} "
        f"ELSE -({zone_hours} * 60 + {zone_minutes}) END)"
    )
    fraction_ms = (
        f"(CASE WHEN {group[3]} IS NULL THEN 0 "
        f"ELSE CAST(RPAD(SUBSTR({group[3]}, 2, 3), 3, '0') AS BIGINT) END)"
    )
    iso_ms = f"({local_secs} * 1000 + {fraction_ms} - {offset_minutes} * 60000)"
    # UNIX_TIMESTAMP is lenient (2023-02-30 becomes March 2nd); a round trip rejects such dates.
    valid_iso = (
        f"REGEXP({ts}, {iso}) "
        f"AND FROM_UNIXTIME({local_secs}, 'yyyy-MM-dd HH:mm:ss') = {local} "
        f"AND ({zone} = 'Z' OR ({zone_hours} <= 23 AND {zone_minutes} <= 59))"
    )
    return (
        f"(CASE WHEN NOT COALESCE(JSON_EXISTS(line, {quote(path)}), FALSE) "
        "THEN CAST(NULL AS BIGINT) "
        f"WHEN COALESCE(REGEXP({ts}, '^[0-9]{{1,15}}$'), FALSE) THEN "
        f"CASE WHEN CAST({ts} AS BIGINT) <= {ev.MAX_EVENT_TIME_MS} THEN CAST({ts} AS BIGINT) END "
        f"WHEN COALESCE({valid_iso} AND {iso_ms} BETWEEN 0 AND {ev.MAX_EVENT_TIME_MS}, FALSE) "
        f"THEN {iso_ms} "
        f"ELSE CAST(NULL AS BIGINT) END)"
    )


KAFKA_SHADED = "org.apache.flink.kafka.shaded."
"""Where the official Kafka SQL connector (one shaded jar) relocates the Kafka client's classes:
a class named in a client property (config providers, JAAS login modules) must carry it."""
CONFIG_PROVIDERS = {
    "env": KAFKA_SHADED + "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    "file": KAFKA_SHADED + "org.apache.kafka.common.config.provider.FileConfigProvider",
}
"""Kafka's own config providers: ``${env:NAME}`` and ``${file:/path:key}`` in a property value
are read by the Kafka client where it runs (the TaskManager), from its environment or a file."""


SINK_DEFAULTS = {"transaction.timeout.ms": "900000"}
"""Producer settings of the exactly-once sinks, unless ``--kafka-property`` overrides them.

Flink's Kafka sink asks for one-hour transactions by default, and a Kafka broker refuses
any above its ``transaction.max.timeout.ms``, 15 minutes by default: the job's transactions
last 15 minutes, so it runs against a broker as installed. A checkpoint must complete, and a
failed job must be back, within that time, or the broker aborts the open transaction.
"""


def with_config_providers(properties: dict[str, str], bootstrap: str = "") -> dict[str, str]:
    """Return ``properties``, with Kafka's config providers declared when a value uses one.

    ``bootstrap`` (the servers, a value of its own in the SQL) counts as a value. The job
    never resolves a secret itself: its SQL, job graph and logs hold the placeholder.
    """
    values = [*properties.values(), bootstrap]
    used = sorted(name for name in CONFIG_PROVIDERS if any(f"${{{name}:" in v for v in values))
    if not used or "config.providers" in properties:
        return dict(properties)
    declared = {f"config.providers.{name}.class": CONFIG_PROVIDERS[name] for name in used}
    return {**properties, "config.providers": ",".join(used), **declared}


def _kafka_properties(properties: dict[str, str], bootstrap: str) -> str:
    return "".join(
        f",\n  {quote('properties.' + k)} = {quote(v)}"
        for k, v in with_config_providers(properties, bootstrap).items()
    )


def _kafka_options(spec: KafkaSourceSpec) -> str:
    if spec.start_offsets:
        startup = (
            "'scan.startup.mode' = 'specific-offsets', "
            f"'scan.startup.specific-offsets' = {quote(_flink_offsets(spec.start_offsets))}"
        )
    elif spec.start.isdigit():
        startup = (
            f"'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{spec.start}'"
        )
    else:
        mode = {"earliest": "earliest-offset", "latest": "latest-offset", "group": "group-offsets"}
        startup = f"'scan.startup.mode' = '{mode[spec.start]}'"
        if spec.start == "group":
            startup += ", 'properties.auto.offset.reset' = 'earliest'"
    bounded = ", 'scan.bounded.mode' = 'latest-offset'" if spec.bounded else ""
    if spec.stop_offsets:
        bounded = (
            ", 'scan.bounded.mode' = 'specific-offsets', "
            f"'scan.bounded.specific-offsets' = {quote(_flink_offsets(spec.stop_offsets))}"
        )
    return (
        f"'connector' = 'kafka', 'topic' = {quote(spec.topic)},\n"
        f"  'properties.bootstrap.servers' = {quote(spec.bootstrap_servers)},\n"
        f"  'properties.group.id' = {quote(spec.group_id)},\n"
        f"  {startup}{bounded},\n"
        f"  'format' = 'raw'{_kafka_properties(spec.properties, spec.bootstrap_servers)}"
    )


def _flink_offsets(offsets: tuple[tuple[int, int], ...]) -> str:
    """Return offsets in the Kafka connector's form: ``partition:0,offset:42;partition:1,...``."""
    return ";".join(f"partition:{partition},offset:{offset}" for partition, offset in offsets)


_KAFKA_POSITION = (
    "`src` STRING METADATA FROM 'topic' VIRTUAL,\n"
    "  `src_partition` INT METADATA FROM 'partition' VIRTUAL,\n"
    "  `src_offset` BIGINT METADATA FROM 'offset' VIRTUAL,\n"
    "  `src_time` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,"
)
_FILE_POSITION = (
    "`src` STRING NOT NULL METADATA FROM 'file.path' VIRTUAL,\n"
    "  `src_partition` AS 0,\n"
    "  `src_offset` AS CAST(NULL AS BIGINT),\n"
    "  `src_time` AS CAST(NULL AS TIMESTAMP_LTZ(3)),"  # NO_RECORD_TIME
)


def _absent_or(path: str, predicate: str) -> str:
    """Return SQL: the field at ``path`` is absent, JSON null, or satisfies ``predicate``."""
    wrapped = f"JSON_QUERY(line, {quote(path)} WITH UNCONDITIONAL ARRAY WRAPPER)"
    return f"COALESCE({wrapped} IN ('[]', '[null]') OR {wrapped} IS NULL OR ({predicate}), FALSE)"


def catalog_ddl(spec: CatalogSpec) -> str:
    """Return the catalog's raw source: each record, whether it is valid, and its version time.

    The rules are ``journey_triggers.catalog``'s. The source has no watermark:
    ``jobs.catalog_stage`` gives the records their version times and watermarks on a
    DataStream, idle when the topic is quiet, and registers the result as
    :data:`CATALOG_SOURCE`, which :func:`catalog_versions_view` reads. The SQL source's own
    idleness did not mark a catalog topic idle again after a record arrived mid-run, and every
    later candidate then waited for the catalog's watermark (the live catalog test got no
    decision within 180 s, 1 of 3 CI runs; the policy control topic showed the same).

    A file catalog is for bounded runs only. In a job that runs forever, a file source that
    has finished sends the end-of-time watermark; whenever the events then go idle, the
    temporal join's watermark jumps to it, and every later candidate waits forever (measured:
    the job stops deciding after the first idle spell).
    """
    if isinstance(spec, KafkaCatalogSpec):
        source = KafkaSourceSpec(
            bootstrap_servers=spec.bootstrap_servers,
            topic=spec.topic,
            group_id=spec.group_id,
            start="earliest",
            bounded=spec.bounded,
            properties=spec.properties,
        )
        position, options = _KAFKA_POSITION, _kafka_options(source)
    else:
        position = _FILE_POSITION
        options = f"'connector' = 'filesystem', 'path' = {quote(spec.path)}, 'format' = 'raw'"
    updated = "$.updated_at"
    version_ms = (
        f"CASE WHEN {_absent_or(updated, 'FALSE')} THEN CAST(0 AS BIGINT) "
        f"ELSE {_timestamp_ms_expression(updated)} END"
    )
    valid = " AND ".join(
        [
            "COALESCE(line IS JSON OBJECT, FALSE)",
            non_empty_string("$.product_id"),
            _absent_or("$.category", json_is_string("$.category")),
            _absent_or("$.margin_tier", json_is_string("$.margin_tier")),
            _absent_or("$.price", _is_number(json_value("$.price"))),
            f"{version_ms} IS NOT NULL",
        ]
    )
    return f"""CREATE TEMPORARY TABLE {CATALOG_RAW} (
  `line` STRING,
  {position}
  `valid` AS {valid},
  `version_ms` AS {version_ms}
) WITH (
  {options}
)"""


def catalog_records_query() -> str:
    """Return the query of :data:`CATALOG_SOURCE`'s valid records, one row per version.

    Columns: product_id, category, price, margin_tier, version_ms, version_ts (the rowtime).
    """
    return f"""SELECT {json_value("$.product_id")} AS product_id,
  CASE WHEN {json_is_string("$.category")} THEN {json_value("$.category")} END AS category,
  {json_number("$.price")} AS price,
  CASE WHEN {json_is_string("$.margin_tier")} THEN {json_value("$.margin_tier")}
  END AS margin_tier,
  version_ms, version_ts
FROM {CATALOG_SOURCE} WHERE valid"""


def catalog_versions_view() -> str:
    """Return the versioned catalog view over :data:`CATALOG_SOURCE`'s valid records.

    It keeps the latest version of each product per event time (Flink's deduplication on a
    rowtime), so the decisions' temporal join sees the version in effect at the candidate's
    time. ``version_ts`` is the source's rowtime: its record timestamps and watermarks.
    """
    return f"""CREATE TEMPORARY VIEW {CATALOG} AS
SELECT product_id, category, price, margin_tier, version_ms, version_ts
FROM (
  SELECT product_id, category, price, margin_tier, version_ms, version_ts,
    ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY version_ts DESC) AS version_rank
  FROM (
{catalog_records_query()}
  ) c
) v
WHERE version_rank = 1"""


PARSE_EVENT_FUNCTION = "jt_parse_event"
"""The JVM ingest's classification of a raw record (``journeytriggers.ingest.ParseEventFunction``):
a row of its dead-letter reason and typed fields, from one JSON parse."""
PROFILE_FIELDS_FUNCTION = "jt_profile_fields"
"""What the profile and session context read of a valid record, from one parse
(``journeytriggers.ingest.ProfileFieldsFunction``)."""
EVENT_TIME_FUNCTION = "jt_event_time"
"""A raw record's event time in epoch ms, 0 for a dead letter
(``journeytriggers.ingest.EventTimeFunction``); it shares the parse with the classification."""
INGEST_FUNCTIONS = {
    PARSE_EVENT_FUNCTION: "journeytriggers.ingest.ParseEventFunction",
    EVENT_TIME_FUNCTION: "journeytriggers.ingest.EventTimeFunction",
}
"""The Java SQL functions of the ingest, by name: the job registers them before the source."""


NO_RECORD_TIME = "CAST(NULL AS TIMESTAMP_LTZ(3))"
"""A file's records have no time of their own (``src_time`` is this literal there)."""


def _parse_arguments(config: JobConfig, record_time: str = "src_time") -> str:
    """Return the ingest functions' arguments: the record, its own time and the job's checks."""
    accept = "TRUE" if config.unknown_event_types != "dead-letter" else "FALSE"
    return (
        f"line, {record_time}, {config.max_record_chars}, CAST({config.max_ahead_ms} AS BIGINT), "
        f"CAST({config.max_behind_ms} AS BIGINT), {accept}"
    )


def source_ddl(spec: KafkaSourceSpec | FileSourceSpec, config: JobConfig) -> str:
    """Return the DDL of the raw event source with its watermark.

    The watermark trails the newest timestamp by the bound plus 1 ms, as DataStream's
    bounded-out-of-orderness strategy does: an event exactly the bound behind its partition's
    newest is on time (``semantics.lateness``), and Flink's operators treat a row at the
    watermark itself as late, so the watermark must stay below it.

    Rejected records get event time 0, so neither the watermark nor a partition's progress can
    be moved by a record that is dead-lettered. The event time comes from the JVM ingest's one
    parse of the record (:data:`EVENT_TIME_FUNCTION`), which the classification reuses.
    """
    if isinstance(spec, KafkaSourceSpec):
        position, options, record_time = _KAFKA_POSITION, _kafka_options(spec), "src_time"
    else:
        # One file is read in order by one reader; its path plays the role of a partition.
        # (A computed column cannot read another: the file's null record time is spelled out.)
        position, record_time = _FILE_POSITION, NO_RECORD_TIME
        options = f"'connector' = 'filesystem', 'path' = {quote(spec.path)}, 'format' = 'raw'"
    event_time = f"{EVENT_TIME_FUNCTION}({_parse_arguments(config, record_time)})"
    return f"""CREATE TEMPORARY TABLE {SOURCE} (
  `line` STRING,
  {position}
  `pt` AS PROCTIME(),
  `ts_ms` AS {event_time},
  `ts` AS TO_TIMESTAMP_LTZ({event_time}, 3),
  WATERMARK FOR `ts` AS `ts` - {interval(config.out_of_orderness_ms + 1)}
) WITH (
  {options}
)"""


CART = "$.properties.cart"


def _cart(column: str = "line") -> str:
    """Return SQL for the cart snapshot as JSON text (NULL when absent, null or a scalar)."""
    return f"JSON_QUERY({column}, '{CART}')"


def _cart_ids_text(column: str = "line") -> str:
    """Return SQL for the product ids of a record's cart snapshot as JSON text, e.g. ``["a"]``."""
    return f"JSON_QUERY({column}, '{CART}[*].product_id' WITH CONDITIONAL ARRAY WRAPPER)"


def classified_view(config: JobConfig) -> str:
    """Return the view that types every record and measures its partition's progress.

    Every check and field comes from the JVM ingest's parse (:data:`PARSE_EVENT_FUNCTION`,
    the reference's ``events.parse_event`` in Java, held equal to it by tests).
    """
    return f"""CREATE TEMPORARY VIEW {CLASSIFIED} AS
SELECT
  line, src, src_partition, src_offset, ts, ts_ms, parsed.reject_reason AS reject_reason,
  parsed.event_id AS event_id,
  parsed.event_type AS event_type,
  parsed.known_customer AS known_customer,
  parsed.identity_token AS identity_token,
  MAX(CASE WHEN parsed.reject_reason IS NULL THEN ts_ms END) OVER (
    PARTITION BY src, src_partition ORDER BY pt
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS partition_max_ts_ms
FROM (
  SELECT line, src, src_partition, src_offset, pt, ts, ts_ms,
    {PARSE_EVENT_FUNCTION}({_parse_arguments(config)}) AS parsed
  FROM {SOURCE}
) s"""


def valid_view() -> str:
    """Return the view of valid records, before the lateness checks.

    It reads :data:`CLASSIFIED_ACTIVE`: the job passes :data:`CLASSIFIED` through
    ``jobs.jvm_streams.never_idle`` once, and the valid records and the dead letters both read
    that one stream, so the source is read, and every record classified, once (two views of
    :data:`CLASSIFIED` were two scans of the topic). The lateness checks and every later view
    read this one.
    """
    return f"""CREATE TEMPORARY VIEW {VALID_ACTIVE} AS
SELECT event_id, event_type, known_customer, identity_token, ts, ts_ms, line,
  src, src_partition, src_offset, partition_max_ts_ms
FROM {CLASSIFIED_ACTIVE}
WHERE reject_reason IS NULL"""


LATE_BEHIND_PARTITION = "behind_partition"
"""Late: more than the out-of-orderness bound behind its source partition's newest event."""
LATE_BEHIND_WATERMARK = "behind_watermark"
"""Late: at or behind the job's watermark, though on time in its partition. Only idleness does
this: the watermark followed the other partitions while this one was quiet (README, Idleness)."""


def _late_reason(config: JobConfig) -> str:
    """Return SQL for a valid record's late reason over :data:`VALID_ACTIVE` (NULL: on time)."""
    bound = config.out_of_orderness_ms
    return f"""(CASE
    WHEN ts_ms < partition_max_ts_ms - {bound} THEN {quote(LATE_BEHIND_PARTITION)}
    WHEN ts <= CURRENT_WATERMARK(ts) THEN {quote(LATE_BEHIND_WATERMARK)}
  END)"""


def on_time_view(config: JobConfig) -> str:
    """Return the view of valid, on-time records with their source position.

    Copies are still in it: ``jobs.jvm_streams.deduplicated`` reads it, its columns in the
    order ``journeytriggers.Deduplication`` reads them.
    """
    return f"""CREATE TEMPORARY VIEW {ON_TIME_ALL} AS
SELECT event_id, event_type, known_customer, identity_token, ts, ts_ms, line,
  src, src_partition, src_offset
FROM {VALID_ACTIVE}
WHERE {_late_reason(config)} IS NULL"""


def without_dedup_views() -> list[str]:
    """Return :data:`ON_TIME_UNIQUE`, :data:`CONFLICTS`, :data:`DUPLICATES` without dedup."""
    return [
        f"CREATE TEMPORARY VIEW {ON_TIME_UNIQUE} AS SELECT * FROM {ON_TIME_ALL}",
        f"CREATE TEMPORARY VIEW {CONFLICTS} AS SELECT * FROM {ON_TIME_ALL} WHERE FALSE",
        f"CREATE TEMPORARY VIEW {DUPLICATES} AS SELECT * FROM {ON_TIME_ALL} WHERE FALSE",
    ]


def duplicates_query() -> str:
    """Return the query of the dropped copies (the duplicates sink's rows)."""
    return f"""SELECT event_id, event_type, COALESCE(known_customer, identity_token), ts_ms,
  src, src_partition, src_offset, line
FROM {DUPLICATES}"""


def _link_key(ts_ms: str, customer: str) -> str:
    """Return a text key that orders links like (time, customer): 15 digits, then the id."""
    return f"CONCAT(LPAD(CAST({ts_ms} AS STRING), 15, '0'), {customer})"


def events_views(config: JobConfig) -> list[str]:
    """Return the views of valid, on-time events, keyed by customer after identity stitching.

    They read :data:`ON_TIME_UNIQUE`: on-time records without copies (``semantics.dedup``).

    The rules are stated in ``journey_triggers.semantics.identity``. The latest link at or
    before an event is a running maximum per token (an OVER aggregate in event time); the
    earliest link within the identity window after it, when the window is on, an interval join
    whose matches a one-millisecond window reduces to one row per event. Then erasures apply
    (:func:`_erasure_views`): they void older links, and start the customer's next state epoch.
    """
    on_time = f"""CREATE TEMPORARY VIEW {ON_TIME} AS
SELECT event_id, event_type, known_customer, identity_token, ts, ts_ms, line
FROM {ON_TIME_UNIQUE}"""
    anonymous = f"""CREATE TEMPORARY VIEW {ANONYMOUS} AS
SELECT event_id, event_type, identity_token, ts, ts_ms, line, SUBSTR(previous, 16) AS previous,
  CAST(SUBSTR(previous, 1, 15) AS BIGINT) AS previous_ms
FROM (
  SELECT event_id, event_type, known_customer, identity_token, ts, ts_ms, line,
    MAX(CASE WHEN known_customer IS NOT NULL
             THEN {_link_key("ts_ms", "known_customer")} END) OVER (
      PARTITION BY identity_token ORDER BY ts
      RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous
  FROM {ON_TIME} WHERE identity_token IS NOT NULL
) p
WHERE known_customer IS NULL"""
    known = f"""SELECT event_id, event_type, known_customer AS customer_key, identity_token,
  CAST(NULL AS BIGINT) AS link_ms, ts, ts_ms, line
FROM {ON_TIME} WHERE known_customer IS NOT NULL"""
    window = config.identity_window_ms
    if window == 0:
        resolved = f"""SELECT event_id, event_type, COALESCE(previous, identity_token),
  identity_token, previous_ms, ts, ts_ms, line
FROM {ANONYMOUS}"""
        return [on_time, anonymous, _resolved(known, resolved), *_erasure_views()]
    joined = f"""CREATE TEMPORARY VIEW {ANONYMOUS_NEXT} AS
SELECT a.event_id, a.event_type, a.identity_token, a.ts, a.ts_ms, a.line, a.previous,
  a.previous_ms, {_link_key("l.ts_ms", "l.known_customer")} AS next_link
FROM {ANONYMOUS} a
LEFT JOIN {ON_TIME} l
  ON l.identity_token = a.identity_token AND l.known_customer IS NOT NULL
  AND l.ts > a.ts AND l.ts <= a.ts + {interval(window)}"""
    resolved = f"""SELECT event_id, event_type,
  COALESCE(SUBSTR(MIN(next_link), 16), previous, identity_token) AS customer_key,
  identity_token,
  COALESCE(CAST(SUBSTR(MIN(next_link), 1, 15) AS BIGINT), previous_ms) AS link_ms,
  window_time AS ts, ts_ms, line
FROM TABLE(TUMBLE(TABLE {ANONYMOUS_NEXT}, DESCRIPTOR(ts), INTERVAL '0.001' SECOND))
GROUP BY event_id, event_type, identity_token, ts_ms, line, previous, previous_ms,
  window_start, window_end, window_time"""
    return [on_time, anonymous, joined, _resolved(known, resolved), *_erasure_views()]


def _resolved(known: str, resolved: str) -> str:
    return f"CREATE TEMPORARY VIEW {RESOLVED} AS\n{known}\nUNION ALL\n{resolved}"


def _erasure_views() -> list[str]:
    """Return the views that apply erasures to the stitched events (``semantics.erasure``).

    First, per stitched customer, the latest erasure at or before each event: an anonymous
    event whose link is older than it belongs to its own token again. Then, per customer, the
    count of erasures at or before each event is its epoch, and the key of every later view is
    ``<epoch>:<customer>``: the detection state of an erased customer is never read again, and
    expires with the state TTL. Both are OVER aggregates in event time, whose RANGE frames hold
    the whole millisecond, so an erasure applies to every event of its millisecond, whatever
    their arrival order.
    """
    frame = "ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    erasure = f"event_type = {quote(ERASURE_EVENT)}"
    unlinked = f"""CREATE TEMPORARY VIEW {UNLINKED} AS
SELECT event_id, event_type,
  CASE WHEN link_ms < last_erasure_ms THEN identity_token ELSE customer_key END AS customer_key,
  ts, ts_ms, line
FROM (
  SELECT event_id, event_type, customer_key, identity_token, link_ms, ts, ts_ms, line,
    MAX(CASE WHEN {erasure} THEN ts_ms END) OVER (PARTITION BY customer_key {frame})
      AS last_erasure_ms
  FROM {RESOLVED}
) r"""
    events = f"""CREATE TEMPORARY VIEW {EVENTS} AS
SELECT event_id, event_type,
  CONCAT(CAST(SUM(CASE WHEN {erasure} THEN 1 ELSE 0 END) OVER (
    PARTITION BY customer_key {frame}) AS STRING), {quote(EPOCH_SEPARATOR)}, customer_key)
    AS customer_key,
  ts, ts_ms, line
FROM {UNLINKED}"""
    return [unlinked, events]


def customer_of(state_key: str) -> str:
    """Return SQL for the customer id of an ``<epoch>:<customer>`` state key."""
    return f"SUBSTR({state_key}, POSITION({quote(EPOCH_SEPARATOR)} IN {state_key}) + 1)"


def events_context_view() -> str:
    """Return the view of on-time events with their session's first event time and counts.

    Rules with ``session_dwell`` conditions and the profile read it. The OVER aggregate orders
    by event time, so its values cover every on-time event of the session up to this one
    (this millisecond included), whatever their arrival order (see
    ``journey_triggers.semantics.context``). The counts feed the profile's session fields.
    """
    session = f"CASE WHEN {non_empty_string('$.session_id')} THEN {json_value('$.session_id')} END"
    carts = "SUM(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END)"
    return f"""CREATE TEMPORARY VIEW {EVENTS_CONTEXT} AS
SELECT event_id, event_type, customer_key, ts, ts_ms, line,
  CASE WHEN session_id IS NOT NULL THEN MIN(ts_ms) OVER s END AS session_start_ms,
  CASE WHEN session_id IS NOT NULL THEN COUNT(*) OVER s END AS session_events,
  CASE WHEN session_id IS NOT NULL THEN {carts} OVER s END AS session_add_to_carts
FROM (SELECT event_id, event_type, customer_key, ts, ts_ms, line, {session} AS session_id
      FROM {EVENTS}) e
WINDOW s AS (PARTITION BY customer_key, session_id ORDER BY ts
  RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def _latest_key(condition: str, value: str) -> str:
    """Return SQL for an event's place in "latest" order where ``condition`` holds, else NULL.

    The key is (15-digit time, event id, NUL, value text): NUL sorts below every character and
    no valid event id contains it, so MAX of keys picks the latest event, ties by id, then by
    the value's text.
    """
    return (
        f"CASE WHEN {condition} THEN "
        f"CONCAT(LPAD(CAST(ts_ms AS STRING), 15, '0'), event_id, CHR(0), {value}) END"
    )


def _latest_value(key: str) -> str:
    """Return SQL for the value text of a :func:`_latest_key` key."""
    return f"SUBSTR({key}, POSITION(CHR(0) IN {key}) + 1)"


def _latest_ms(key: str) -> str:
    return f"CAST(SUBSTR({key}, 1, 15) AS BIGINT)"


DOUBLE_MAX = "1.7976931348623157E308"
"""The largest finite DOUBLE: a number written past it (``1e400``, 400 digits) is no number."""


def _is_number(text: str) -> str:
    finite = f"ABS(TRY_CAST({text} AS DOUBLE)) <= {DOUBLE_MAX}"
    return f"(REGEXP({text}, {quote(NUMBER.pattern)}) AND {finite})"


def json_number(path: str, column: str = "line") -> str:
    """Return SQL for a field as DOUBLE: a JSON number or a string written as one, else NULL.

    As ``semantics.conditions.as_number``: a number beyond DOUBLE's range is NULL, not
    infinity.
    """
    text = json_value(path, column)
    return f"(CASE WHEN {_is_number(text)} THEN CAST({text} AS DOUBLE) END)"


def profile_view() -> str:
    """Return the view of on-time events with the customer's profile as of each (JSON text).

    One OVER aggregate per customer in event time; the fields and their rules are in
    ``journey_triggers.semantics.profile``. Its RANGE frame holds every event of the current
    millisecond, so peers see the same profile whatever their arrival order.
    """
    cart_events = ", ".join(quote(t) for t in pf.CART_EVENTS)
    value = json_number("$.properties.cart_value")
    price = json_number("$.properties.price")
    order = f"COALESCE({value}, {price})"
    cents = (
        f"CASE WHEN event_type = 'purchase' THEN COALESCE(CASE WHEN {order} BETWEEN 0.0E0 "
        f"AND {pf.MAX_ORDER_VALUE!r} THEN CAST(FLOOR({order} * 100.0E0 + 0.5E0) AS BIGINT) "
        "END, 0) ELSE 0 END"
    )
    keys: dict[str, str] = {}
    for name, source in pf.TEXT_FIELDS:
        keys[name] = _latest_key(non_empty_string("$." + source), json_value("$." + source))
    for name in ("cart_value", "cart_items"):
        number = json_number("$.properties." + name)
        keys[name] = _latest_key(
            f"event_type IN ({cart_events}) AND {number} IS NOT NULL",
            json_value("$.properties." + name),
        )
    keys["cart_products"] = _latest_key(
        f"event_type IN ({cart_events}) AND {_cart()} IS NOT NULL",
        _cart_ids_text(),
    )
    for channel in pf.CONSENT_CHANNELS:
        flag = (
            f"JSON_QUERY(line, '$.properties.consent.{channel}' WITH UNCONDITIONAL ARRAY WRAPPER)"
        )
        keys["consent_" + channel] = _latest_key(
            f"event_type = 'consent_update' AND {flag} IN ('[true]', '[false]')", flag
        )
    session = f"CASE WHEN {non_empty_string('$.session_id')} THEN {json_value('$.session_id')} END"
    device = f"CASE WHEN {non_empty_string('$.device_id')} THEN {json_value('$.device_id')} END"
    window = "OVER w"
    aggregates = {
        "first_seen_ms": f"MIN(ts_ms) {window}",
        "last_seen_ms": f"MAX(ts_ms) {window}",
        "events": f"COUNT(*) {window}",
        "sessions": f"COUNT(DISTINCT {session}) {window}",
        "devices": f"COUNT(DISTINCT {device}) {window}",
        "product_views": f"SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) {window}",
        "add_to_carts": f"SUM(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) {window}",
        "orders": f"SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) {window}",
        "cents": f"SUM({cents}) {window}",
        "last_purchase_ms": f"MAX(CASE WHEN event_type = 'purchase' THEN ts_ms END) {window}",
        "last_email_open_ms": f"MAX(CASE WHEN event_type = 'email_open' THEN ts_ms END) {window}",
        **{f"k_{name}": f"MAX({key}) {window}" for name, key in keys.items()},
    }
    inner = ",\n    ".join(f"{sql} AS {name}" for name, sql in aggregates.items())

    def text(name: str) -> str:
        return _latest_value(f"k_{name}")

    def in_cart(name: str) -> str:
        later = f"(last_purchase_ms IS NULL OR {_latest_ms(f'k_{name}')} > last_purchase_ms)"
        return f"k_{name} IS NOT NULL AND {later}"

    def cart(name: str) -> str:
        number = f"CAST({_latest_value(f'k_{name}')} AS DOUBLE)"
        return f"CASE WHEN {in_cart(name)} THEN {number} ELSE 0.0E0 END"

    products = (
        f"JSON_QUERY(CASE WHEN {in_cart('cart_products')} THEN "
        f"{_latest_value('k_cart_products')} ELSE '[]' END, '$[*]' RETURNING ARRAY<STRING>)"
    )

    def consent(channel: str) -> str:
        flag = _latest_value(f"k_consent_{channel}")
        return f"CASE {flag} WHEN '[true]' THEN TRUE WHEN '[false]' THEN FALSE END"

    fields = {
        "first_seen_ms": "first_seen_ms",
        "last_seen_ms": "last_seen_ms",
        "events": "events",
        "sessions": "sessions",
        "devices": "devices",
        "product_views": "product_views",
        "add_to_carts": "add_to_carts",
        **{name: text(name) for name, _ in pf.TEXT_FIELDS},
        "orders": "orders",
        "revenue": "CAST(cents AS DOUBLE) / 100",
        "aov": "CASE WHEN orders > 0 THEN CAST(cents AS DOUBLE) / orders / 100 END",
        "last_purchase_ms": "last_purchase_ms",
        "last_email_open_ms": "last_email_open_ms",
        "cart_value": cart("cart_value"),
        "cart_items": cart("cart_items"),
        "cart_products": products,
        **{f"consent_{c}": consent(c) for c in pf.CONSENT_CHANNELS},
        "session_start_ms": "session_start_ms",
        "session_events": "session_events",
        "session_add_to_carts": "session_add_to_carts",
    }
    assert tuple(fields) == pf.PROFILE_FIELDS
    members = ",\n    ".join(f"KEY {quote(name)} VALUE {sql}" for name, sql in fields.items())
    return f"""CREATE TEMPORARY VIEW {EVENTS_PROFILE} AS
SELECT event_id, event_type, customer_key, ts, ts_ms, line, session_start_ms,
  JSON_OBJECT(
    {members}
  ) AS profile
FROM (
  SELECT event_id, event_type, customer_key, ts, ts_ms, line, session_start_ms,
    session_events, session_add_to_carts,
    {inner}
  FROM {EVENTS_CONTEXT}
  WINDOW w AS (PARTITION BY customer_key ORDER BY ts
    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) p"""


FEATURES_SQL_TYPE = "ROW<" + ", ".join(f"`{name}` DOUBLE" for name in FEATURE_NAMES) + ">"
"""The features ROW that decisions carry (NULL without a model)."""


PRODUCT_SQL_TYPE = (
    "ROW<`product_id` STRING, `in_catalog` BOOLEAN, `category` STRING, `price` DOUBLE, "
    "`margin_tier` STRING, `catalog_version_time` STRING>"
)
"""The catalog enrichment decisions carry (NULL without a catalog or a product)."""


EXPLANATION_SQL_TYPE = (
    "ROW<`kind` STRING, `summary` STRING, `anchor_event_id` STRING, `anchor_event_type` STRING, "
    "`anchor_time` STRING, `window` STRING, `absent_event_types` ARRAY<STRING>>"
)
"""The explanation every decision carries."""

DECISION_FIELDS = (
    "schema_version", "decision_id", "customer_id", "rule_id", "rule_version", "status",
    "trigger_time", "trigger_time_ms", "action", "channels", "payload", "cart", "explanation",
    "score", "model_version", "features", "product",
)  # fmt: skip
"""The decision record's fields, in the order the rules' query has them."""


CONTEXT_COLUMNS = (
    "ctx_time_zone",
    "ctx_device_type",
    "ctx_channel",
    "ctx_anchor_ms",
    "ctx_priority",
)
"""The trigger context the policy stage reads, after the decision columns."""


def field_text(field: str, column: str = "line") -> str:
    """Return SQL for a record field's value as text (JSON_VALUE), NULL when it has none.

    Field names are validated by the rule model: identifiers joined by dots.
    """
    return json_value("$." + field, column)


def policy_input_query(decisions: str) -> str:
    """Return the policy stage's input: candidate triggers and the events the policy reads.

    Columns: customer, event time, kind (``candidate`` or the event type) and a JSON body (the
    candidate's record and context, or the event as received).
    """
    from journey_triggers.semantics.policy import POLICY_EVENT_TYPES

    def value(name: str) -> str:
        return f"CAST({name} AS {EXPLANATION_SQL_TYPE})" if name == "explanation" else name

    record = ", ".join(f"KEY {quote(f)} VALUE {value(f)}" for f in DECISION_FIELDS)
    context = ", ".join(f"KEY {quote(c.removeprefix('ctx_'))} VALUE {c}" for c in CONTEXT_COLUMNS)
    columns = ", ".join((*DECISION_FIELDS, *CONTEXT_COLUMNS))
    types = ", ".join(quote(t) for t in POLICY_EVENT_TYPES)
    return f"""SELECT customer_id AS customer, trigger_time_ms AS at_ms,
  CAST('candidate' AS STRING) AS kind,
  JSON_OBJECT(
    KEY 'record' VALUE JSON_OBJECT({record} NULL ON NULL),
    KEY 'context' VALUE JSON_OBJECT({context} NULL ON NULL)
  ) AS body
FROM (
{decisions}
) AS c({columns})
UNION ALL
SELECT {customer_of("customer_key")}, ts_ms, event_type, line FROM {EVENTS}
WHERE event_type IN ({types})"""


def _decision_columns() -> str:
    return (
        """  `schema_version` INT,
  `decision_id` STRING,
  `customer_id` STRING,
  `rule_id` STRING,
  `rule_version` INT,
  `status` STRING,
  `trigger_time` STRING,
  `trigger_time_ms` BIGINT,
  `action` STRING,
  `channels` ARRAY<STRING>,
  `payload` MAP<STRING, STRING>,
  `cart` ARRAY<STRING>,
  `explanation` """
        + EXPLANATION_SQL_TYPE
        + """,
  `score` DOUBLE,
  `model_version` STRING,
  `features` """
        + FEATURES_SQL_TYPE
        + """,
  `product` """
        + PRODUCT_SQL_TYPE
    )


def _dead_letter_columns() -> str:
    return """  `reason` STRING,
  `source` STRING,
  `source_partition` INT,
  `source_offset` BIGINT,
  `raw` STRING"""


def _late_columns() -> str:
    return """  `event_id` STRING,
  `event_type` STRING,
  `customer_id` STRING,
  `event_time_ms` BIGINT,
  `reason` STRING,
  `partition_max_time_ms` BIGINT,
  `allowed_out_of_orderness_ms` BIGINT,
  `watermark_ms` BIGINT,
  `source` STRING,
  `source_partition` INT,
  `source_offset` BIGINT,
  `raw` STRING"""


def _duplicate_columns() -> str:
    return """  `event_id` STRING,
  `event_type` STRING,
  `customer_id` STRING,
  `event_time_ms` BIGINT,
  `source` STRING,
  `source_partition` INT,
  `source_offset` BIGINT,
  `raw` STRING"""


def _profile_columns() -> str:
    return """  `customer_id` STRING,
  `event_id` STRING,
  `event_type` STRING,
  `event_time_ms` BIGINT,
  `profile` STRING"""


_RECORD_COLUMNS = """  `customer_id` STRING,
  `record` STRING"""
"""A sink of JSON records the policy stage wrote (the key, then the record)."""


def sink_ddls(
    spec: SinkSpec, *, profiles: bool = False, policy: bool = False, duplicates: bool = False
) -> list[str]:
    """Return the DDL of the decision, dead-letter, late (profiles, duplicates) sinks.

    With the ``policy`` stage, decisions (and erasure confirmations) arrive as JSON text:
    their sinks write it as it is, keyed by customer on Kafka.
    """
    decisions = _RECORD_COLUMNS if policy else _decision_columns()
    tables = [
        (DECISIONS_SINK, decisions, "decisions", "customer_id"),
        (DEAD_LETTER_SINK, _dead_letter_columns(), "dead_letters", None),
        (LATE_SINK, _late_columns(), "late_events", "customer_id"),
    ]
    if profiles:
        tables.append((PROFILES_SINK, _profile_columns(), "profiles", "customer_id"))
    if duplicates:
        tables.append((DUPLICATES_SINK, _duplicate_columns(), "duplicates", "customer_id"))
    if policy:
        tables.append((ERASURES_SINK, _RECORD_COLUMNS, "erasures", "customer_id"))
    statements = []
    for table, columns, name, key in tables:
        raw = columns is _RECORD_COLUMNS
        if isinstance(spec, DiscardSinkSpec):
            options = "'connector' = 'blackhole'"
        elif isinstance(spec, FileSinkSpec):
            options = (
                f"'connector' = 'filesystem', 'path' = {quote(spec.directory + '/' + name)}, "
                f"'format' = '{'raw' if raw else 'json'}'"
            )
            if raw:
                columns = "  `record` STRING"
        else:
            topic = {
                "decisions": spec.decisions_topic,
                "dead_letters": spec.dead_letter_topic,
                "late_events": spec.late_topic,
                "profiles": spec.profile_topic,
                "duplicates": spec.duplicates_topic,
                "erasures": spec.erasure_topic,
            }[name]
            keyed = f"'key.format' = 'raw', 'key.fields' = '{key}', " if key else ""
            value = (
                "'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY'"
                if raw
                else "'value.format' = 'json', 'value.fields-include' = 'ALL'"
            )
            options = (
                f"'connector' = 'kafka', 'topic' = {quote(topic)},\n"
                f"  'properties.bootstrap.servers' = {quote(spec.bootstrap_servers)},\n"
                f"  {keyed}{value},\n"
                f"  'sink.delivery-guarantee' = {quote(spec.delivery)}"
                + (
                    f",\n  'sink.transactional-id-prefix' = "
                    f"{quote(spec.transactional_id_prefix + '-' + name)}"
                    if spec.delivery == "exactly-once"
                    else ""
                )
                + _kafka_properties({**SINK_DEFAULTS, **spec.properties}, spec.bootstrap_servers)
            )
        statements.append(f"CREATE TEMPORARY TABLE {table} (\n{columns}\n) WITH (\n  {options}\n)")
    return statements


def policy_control_ddl(spec: KafkaSourceSpec, config: JobConfig) -> str:
    """Return the control topic's table: policy documents, with their Kafka timestamps.

    No watermark here: the policy stage assigns the control stream's own
    (``jobs.policy_stage``).
    """
    return control_ddl(POLICY_CONTROL, spec)


def control_ddl(table: str, spec: KafkaSourceSpec) -> str:
    """Return a control topic's table ``table``: its messages, with their Kafka timestamps."""
    published = "`src_time`"  # the record's Kafka timestamp (in _KAFKA_POSITION)
    epoch = f"CAST(TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), {published}) AS BIGINT)"
    millis = f"MOD(EXTRACT(MILLISECOND FROM {published}), 1000)"
    return f"""CREATE TEMPORARY TABLE {table} (
  `line` STRING,
  {_KAFKA_POSITION}
  `published_ms` AS {epoch} * 1000 + {millis}
) WITH (
  {_kafka_options(spec)}
)"""


def policy_control_query() -> str:
    """Return the control records as the policy stage reads them."""
    return f"SELECT line, src, src_partition, src_offset, published_ms FROM {POLICY_CONTROL}"


def dead_letter_query(
    *, catalog: bool = False, policy_rejects: bool = False, rule_rejects: bool = False
) -> str:
    """Return the query of the dead letters: invalid, conflicting, catalog and control records.

    Conflicting records are those whose event id another record holds (:data:`CONFLICTS`).

    One query for all: each INSERT into a Kafka exactly-once sink is a sink of its own, and
    two would share a transactional-id prefix. With ``policy_rejects``, the invalid control
    messages the policy stage rejected (the view :data:`POLICY_REJECTS`) join them; with
    ``rule_rejects``, the rejected rule changes (the view :data:`RULE_REJECTS`).
    """
    conflict = quote(REJECT_CONFLICTING_EVENT_ID)
    events = f"""SELECT reject_reason, src, src_partition, src_offset, line
FROM {CLASSIFIED_ACTIVE} WHERE reject_reason IS NOT NULL
UNION ALL
SELECT {conflict}, src, src_partition, src_offset, line FROM {CONFLICTS}"""
    if catalog:
        reason = quote(REJECT_INVALID_CATALOG_RECORD)
        events += f"""
UNION ALL
SELECT {reason}, src, src_partition, src_offset, line FROM {CATALOG_SOURCE} WHERE NOT valid"""
    if policy_rejects:
        events += f"""
UNION ALL
SELECT `reason`, `source`, `source_partition`, `source_offset`, `raw` FROM {POLICY_REJECTS}"""
    if rule_rejects:
        events += f"""
UNION ALL
SELECT `reason`, `source`, `source_partition`, `source_offset`, `raw` FROM {RULE_REJECTS}"""
    return events


def profiles_insert() -> str:
    """Return the INSERT of a profile snapshot per on-time event (``--profile-snapshots``)."""
    return f"""INSERT INTO {PROFILES_SINK}
SELECT {customer_of("customer_key")}, event_id, event_type, ts_ms, profile FROM {EVENTS_PROFILE}"""


def late_query(config: JobConfig) -> str:
    """Return the query of the late valid records, each with its reason (the late sink's rows)."""
    bound = config.out_of_orderness_ms
    return f"""SELECT event_id, event_type, COALESCE(known_customer, identity_token), ts_ms, reason,
  partition_max_ts_ms, CAST({bound} AS BIGINT),
  {ms_of("CURRENT_WATERMARK(ts)")}, src, src_partition, src_offset, line
FROM (SELECT *, {_late_reason(config)} AS reason FROM {VALID_ACTIVE})
WHERE reason IS NOT NULL"""


def ms_of(timestamp: str) -> str:
    """Return SQL for the epoch ms of a TIMESTAMP_LTZ(3) (TIMESTAMPDIFF has whole seconds only)."""
    seconds = f"TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), {timestamp})"
    return f"({seconds} * CAST(1000 AS BIGINT) + CAST(DATE_FORMAT({timestamp}, 'SSS') AS BIGINT))"


def utc(ms_expression: str) -> str:
    """Return SQL formatting epoch ms as ISO-8601 UTC with milliseconds."""
    return f"DATE_FORMAT(TO_TIMESTAMP_LTZ({ms_expression}, 3), {quote(_UTC_MS_FORMAT)})"
