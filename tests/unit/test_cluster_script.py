"""``deploy/cluster.sh stop`` stops the Python workers its cluster left, and only those.

A TaskManager killed with ``kill -9`` leaves its PyFlink workers running, re-parented to init
(``make soak``'s TaskManager test found such workers hours later). The script finds a
cluster's workers by their command line (``pyflink-udf-runner.sh`` or
``pyflink.fn_execution``) and the ``FLINK_CONF_DIR`` they inherit from the cluster. Here
stand-in processes carry those marks; the real kill is in ``test_cluster_faults.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLEEP = shutil.which("sleep")


def _stand_in(name: str, conf_dir: Path) -> subprocess.Popen[bytes]:
    """A process named ``name`` (its argv[0]) with ``FLINK_CONF_DIR`` set to ``conf_dir``."""
    assert SLEEP
    env = {**os.environ, "FLINK_CONF_DIR": str(conf_dir)}
    return subprocess.Popen([name, "300"], executable=SLEEP, env=env)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


@pytest.mark.parametrize("with_state", [True, False], ids=["cluster-state", "no-state"])
def test_stop_kills_the_clusters_leftover_python_workers_and_nothing_else(
    tmp_path, processes, with_state
):
    state = tmp_path / "flink"
    other = tmp_path / "other" / "conf"
    if with_state:
        (state / "conf").mkdir(parents=True)
    runner = _stand_in("pyflink-udf-runner.sh", state / "conf")
    worker = _stand_in("python -m pyflink.fn_execution.beam.beam_boot", state / "conf")
    not_a_worker = _stand_in("sleep", state / "conf")
    other_clusters = _stand_in("pyflink-udf-runner.sh", other)
    processes.extend([runner, worker, not_a_worker, other_clusters])
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "cluster.sh"), "stop"],
        env={**os.environ, "PYTHON": sys.executable, "JT_FLINK_STATE": str(state)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"killed leftover Python workers: {runner.pid} {worker.pid}" in result.stdout
    deadline = time.monotonic() + 10
    while (runner.poll(), worker.poll()).count(None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runner.poll() is not None and worker.poll() is not None
    assert not_a_worker.poll() is None, "a process of the cluster's that is not a worker"
    assert other_clusters.poll() is None, "another cluster's worker"
