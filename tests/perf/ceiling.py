"""The benchmark's ceiling: parse, watermark and count the same events, then discard the counts.

It runs the job's own ingest (``jobs/sql.py``: the raw source with its event-time column and
watermark, validation and per-partition lateness) and a one-minute tumbling count per event
type into Flink's blackhole sink. No rule runs, so its throughput bounds what any rule set can
reach on the same input and machine.

    python -m tests.perf.ceiling --input-file EVENTS.jsonl [--parallelism 2]
    python -m tests.perf.ceiling --bootstrap-servers HOST:PORT --topic events

It prints ``journey-triggers: job ran in N.NNNs`` on stderr, as the job does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from jobs import sql
from jobs.specs import FileSourceSpec, KafkaSourceSpec, SourceSpec
from jobs.triggers_job import create_table_env, register_events
from journey_triggers.config import JobConfig


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ceiling job to the end of its bounded input."""
    parser = argparse.ArgumentParser(prog="python -m tests.perf.ceiling", description=__doc__)
    parser.add_argument("--input-file")
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--topic", default="events")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--checkpoint-dir")
    args = parser.parse_args(argv)
    source: SourceSpec
    if args.input_file:
        source = FileSourceSpec(args.input_file)
    else:
        source = KafkaSourceSpec(args.bootstrap_servers, topic=args.topic, bounded=True)
    config = JobConfig(parallelism=args.parallelism, checkpoint_dir=args.checkpoint_dir)
    t_env = create_table_env(config)
    started = time.monotonic()
    register_events(t_env, source, config)
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE counts (event_type STRING, window_start TIMESTAMP(3), n BIGINT) "
        "WITH ('connector' = 'blackhole')"
    )
    t_env.execute_sql(
        f"""INSERT INTO counts
SELECT event_type, window_start, COUNT(*)
FROM TABLE(TUMBLE(TABLE {sql.EVENTS}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY event_type, window_start, window_end"""
    ).wait()
    print(f"journey-triggers: job ran in {time.monotonic() - started:.3f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
