"""A standalone Flink cluster on localhost for the tests, driven through ``deploy/cluster.sh``."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from journey_triggers import broker
from journey_triggers.flink_rest import FlinkRest
from journey_triggers.jobrunner import job_environment

ROOT = Path(__file__).resolve().parents[1]


class Cluster(FlinkRest):
    """One cluster's ports, state directory and ``deploy/cluster.sh`` commands."""

    def __init__(self, state: Path) -> None:
        super().__init__(broker.free_port())
        self.state = state
        self.log_dir = state / "log"
        # Ten ports from a free one: the JobManager and each TaskManager take one.
        first = broker.free_port()
        self.prometheus_ports = range(first, first + 10)
        self.env = {
            **job_environment(),
            "PYTHON": sys.executable,
            "JT_FLINK_STATE": str(state),
            "JT_REST_PORT": str(self.rest_port),
            "JT_RPC_PORT": str(broker.free_port()),
            "JT_PROM_PORTS": f"{first}-{first + 9}",
        }

    def run(self, action: str, *args: str) -> str:
        """Run ``deploy/cluster.sh ACTION ARGS``; return its output, which a failure shows."""
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "cluster.sh"), action, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def job(self) -> dict[str, Any]:
        """The job submitted last."""
        jobs = self.rest("/jobs/overview")["jobs"]
        assert jobs, "no job on the cluster"
        return dict(max(jobs, key=lambda job: job["start-time"]))

    def wait_for_state(self, job_id: str, state: str, timeout_s: float = 180) -> None:
        """Wait until the job is in ``state``; fail at once if it failed."""
        deadline = time.monotonic() + timeout_s
        while (now := self.rest(f"/jobs/{job_id}")["state"]) != state:
            assert now != "FAILED", f"job {job_id} failed"
            assert time.monotonic() < deadline, f"job {job_id} is {now}, not {state}"
            time.sleep(0.5)

    def _scrape(self) -> list[str]:
        """Return the text of every Prometheus endpoint of the cluster that answers."""
        texts = []
        for port in self.prometheus_ports:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/metrics", timeout=5) as r:
                    texts.append(r.read().decode())
            except OSError:
                continue
        return texts

    def prometheus_names(self) -> set[str]:
        """Return the names of every metric the cluster's Prometheus endpoints export."""
        return {
            line.split("{")[0].split(" ")[0]
            for text in self._scrape()
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def prometheus(self, metric: str) -> float | None:
        """Return the sum of the samples of the Prometheus metric ``metric`` (e.g.
        ``flink_taskmanager_job_task_operator_late_events``) over every reporter's endpoint of
        the cluster; None when no endpoint has it."""
        total = None
        sample = re.compile(rf"^{re.escape(metric)}(?:{{[^}}]*}})? (\S+)$", re.M)
        for text in self._scrape():
            for value in sample.findall(text):
                total = (total or 0.0) + float(value)
        return total

    def prometheus_samples(self, metric: str) -> list[tuple[str, float]]:
        """Return every sample of the Prometheus metric ``metric``: its labels, its value."""
        sample = re.compile(rf"^{re.escape(metric)}(?:{{([^}}]*)}})? (\S+)$", re.M)
        return [
            (labels, float(value))
            for text in self._scrape()
            for labels, value in sample.findall(text)
        ]

    def processes(self) -> dict[int, str]:
        """Return every process started by this cluster's scripts or JVMs (JVMs, Python
        workers: they all inherit its ``FLINK_CONF_DIR``) and its command line."""
        mark = f"FLINK_CONF_DIR={self.state / 'conf'}".encode()
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(entry.name)] = command.decode(errors="replace").strip()
            except OSError:
                continue
        return found

    def taskmanager_pids(self) -> set[int]:
        pattern = f"-Dlog.file={self.log_dir}/flink-.*-taskexecutor-"
        found = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True)
        return {int(pid) for pid in found.stdout.split()}


def submitted_job_id(output: str) -> str:
    """Return the job id that ``flink run`` printed."""
    found = re.search(r"Job has been submitted with JobID ([0-9a-f]{32})", output)
    assert found, output
    return found.group(1)


def savepoint_path(output: str) -> str:
    """Return the savepoint path that ``flink stop`` printed."""
    found = re.search(r"Savepoint completed\. Path: (\S+)", output)
    assert found, output
    return found.group(1)
