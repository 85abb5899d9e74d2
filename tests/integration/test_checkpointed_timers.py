"""Timers a Python function registers are in the checkpoint, also those of its last bundle.

In process mode, PyFlink 2.0 registers a Python function's timers in the JVM later, by mails on
the task's mailbox, and a checkpoint barrier ends the open bundle and takes the snapshot before
those mails run. A job restored from that checkpoint has the bundle's state but not its timers
(``journeytriggers.CheckpointedTimersKeyedProcessOperator`` explains). The policy stage lost
decisions that way after a failure (``test_policy_exactly_once.py``), about one recovery in nine.

This job makes the case certain: bundles that only a barrier ends, no watermark before the end of
the input (so nothing else registers the pending timers), a timer for every number, and a slow
function, so that the barrier's bundle still has numbers to take. The job is stopped with a
savepoint mid-stream and resumed from it. Every number's timer must fire once, and the numbers
the first run took must have their timers fire in the second. It runs for both operators the
policy stage uses: keyed, and keyed with a broadcast input (a control topic).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jobs.jvm_streams import keyed_broadcast_process, keyed_by_first_column, keyed_process
from jobs.triggers_job import create_table_env
from journey_triggers.config import JobConfig
from tests.integration.conftest import read_json_lines

pytestmark = pytest.mark.integration

RATE = 400  # numbers per second, 1, 2, 3, ... 20,000: more than both runs take
SLOW_S = 0.01
"""Each instance takes 100 numbers a second, half what reaches it: when the savepoint's barrier
arrives the Python worker still has numbers to take, and their timers reach the JVM as the
barrier ends the bundle."""


def _function(run: str, *, broadcast: bool) -> Any:
    from pyflink.common import Row, Types
    from pyflink.datastream import KeyedBroadcastProcessFunction, KeyedProcessFunction
    from pyflink.datastream.state import MapStateDescriptor

    class TimerPerNumber:
        """Register an event-time timer at each number; on it, emit the runs that did each."""

        def open(self, runtime_context: Any) -> None:
            self.registered = runtime_context.get_map_state(
                MapStateDescriptor("registered_by", Types.LONG(), Types.STRING())
            )

        def process_element(self, value: Any, ctx: Any) -> None:
            time.sleep(SLOW_S)
            self.registered.put(value[1], run)
            ctx.timer_service().register_event_time_timer(value[1])

        def process_broadcast_element(self, value: Any, ctx: Any) -> None:
            pass

        def on_timer(self, timestamp: int, ctx: Any) -> Any:
            yield Row(timestamp, self.registered.get(timestamp), run)
            self.registered.remove(timestamp)

    base = KeyedBroadcastProcessFunction if broadcast else KeyedProcessFunction
    return type("TimerPerNumber", (TimerPerNumber, base), {})()


def _start(tmp_path: Path, run: str, flink_conf: dict[str, str], *, broadcast: bool) -> Any:
    """Start the job (its output in ``tmp_path/run``); return its TableResult.

    With ``broadcast``, the function is a keyed broadcast function with a second input.
    """
    from pyflink.common import Types
    from pyflink.datastream.state import MapStateDescriptor
    from pyflink.table import DataTypes
    from pyflink.table.expressions import col

    held = {
        "python.fn-execution.bundle.time": "3600000",
        "python.fn-execution.bundle.size": "1000000",
    }
    config = JobConfig(
        parallelism=2,
        checkpoint_interval_ms=3_600_000,  # only the savepoint and the final checkpoint
        checkpoint_dir=(tmp_path / "checkpoints").as_uri(),
        flink_conf={**held, **flink_conf},
    )
    t_env = create_table_env(config)
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE numbers (n BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '{RATE}',
  'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '20000'
)"""
    )
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE fired (n BIGINT, registered_by STRING, fired_by STRING) WITH (
  'connector' = 'filesystem', 'path' = '{tmp_path / run}', 'format' = 'json'
)"""
    )
    numbers = t_env.from_path("numbers").select(
        (col("n") % 16).cast(DataTypes.STRING()).alias("k"), col("n")
    )
    output = Types.ROW_NAMED(
        ["n", "registered_by", "fired_by"], [Types.LONG(), Types.STRING(), Types.STRING()]
    )
    keyed = keyed_by_first_column(t_env, numbers)
    function = _function(run, broadcast=broadcast)
    if broadcast:
        t_env.execute_sql(
            """CREATE TEMPORARY TABLE control (c BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '1', 'number-of-rows' = '1000'
)"""
        )
        control = t_env.to_data_stream(t_env.from_path("control")).broadcast(
            MapStateDescriptor("control", Types.LONG(), Types.LONG())
        )
        stream = keyed_broadcast_process(keyed, control, function, output)
    else:
        stream = keyed_process(keyed, function, output)
    return t_env.from_data_stream(stream).execute_insert("fired")


def _stop_with_savepoint(client: Any, directory: Path, *, drain: bool) -> str:
    """Stop the job with a savepoint 2 s after all its tasks run; return the savepoint's path.

    With ``drain``, the sources send the end of event time first: every timer fires.
    """
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    formats = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType
    deadline = time.monotonic() + 60
    while True:
        time.sleep(2)  # a part of the input, and a backlog in the Python worker
        try:
            return str(
                client._j_job_client.stopWithSavepoint(
                    drain, directory.as_uri(), formats.CANONICAL
                ).get()
            )
        except Py4JJavaError as err:
            if "Not all required tasks are currently running" not in str(err):
                raise
            if time.monotonic() > deadline:
                raise


@pytest.mark.parametrize("broadcast", [False, True], ids=["keyed", "keyed-broadcast"])
def test_a_job_resumed_from_a_savepoint_fires_every_timer_once(
    no_leftover_processes, tmp_path, broadcast
):
    first = _start(tmp_path, "first", {}, broadcast=broadcast)
    savepoint = _stop_with_savepoint(first.get_job_client(), tmp_path / "savepoints", drain=False)
    first.wait()
    second = _start(
        tmp_path, "second", {"execution.state-recovery.path": savepoint}, broadcast=broadcast
    )
    _stop_with_savepoint(second.get_job_client(), tmp_path / "savepoints", drain=True)
    second.wait()

    rows = read_json_lines(tmp_path / "first") + read_json_lines(tmp_path / "second")
    fired = sorted(row["n"] for row in rows)
    assert fired, "no timer fired"
    # The source took 1, 2, ..., max: every one of them registered a timer.
    missing = sorted(set(range(1, fired[-1] + 1)) - set(fired))
    assert missing == [], f"{len(missing)} of {fired[-1]} timers never fired, e.g. {missing[:10]}"
    assert fired == list(range(1, fired[-1] + 1)), "a timer fired twice"
    runs = Counter((row["registered_by"], row["fired_by"]) for row in rows)
    print(json.dumps({"savepoint": savepoint, "timers": fired[-1], "runs": str(runs)}))
    assert runs[("first", "second")] > 0, (
        "no timer came from the savepoint: the test proves nothing"
    )
    assert runs[("second", "second")] > 0, "the second run took no number"
