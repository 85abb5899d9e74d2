"""Run the triggers job as a child process in its own process group, and never leak it.

PyFlink starts a JVM (and, for Python operators, Python workers) under the calling process.
Running the job as a child in a fresh session lets the caller kill the whole tree, so a demo or a
test leaves no JVM or worker behind even when interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from journey_triggers.errors import JourneyTriggersError


class JobFailedError(JourneyTriggersError):
    """The job process exited with an error."""


_IN_PROCESS_ONLY = ("PYFLINK_GATEWAY_DISABLED", "PYTHON_LOOPBACK_SERVER_ADDRESS")
"""What PyFlink leaves in this process's environment after a job with Python functions ran in
it: its in-process Python workers set the environment their JVM sends them."""


def job_environment() -> dict[str, str]:
    """Return this process's environment for a child that runs a PyFlink job (or a cluster).

    After a job with a Python function has run in this process, PyFlink leaves
    ``PYFLINK_GATEWAY_DISABLED`` set here (a child that inherits it refuses to start its own
    JVM gateway) and ``PYTHON_LOOPBACK_SERVER_ADDRESS``, the address of this process's Python
    worker pool: a child's job, or a TaskManager, that inherits it runs its Python functions in
    this process instead of workers of its own (measured: a standalone cluster's TaskManager
    started no Python worker, and its environment, ``JAVA_HOME`` among it, replaced this
    process's).
    """
    return {k: v for k, v in os.environ.items() if k not in _IN_PROCESS_ONLY}


def run_job(args: Sequence[str], *, timeout_s: float, log_path: Path) -> None:
    """Run ``python -m jobs.triggers_job ARGS`` to completion; raise with the log tail on error."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "jobs.triggers_job", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=job_environment(),
        )
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(process)
            msg = f"the job did not finish within {timeout_s:.0f}s; log: {log_path}"
            raise JobFailedError(msg) from None
        except BaseException:
            kill_group(process)
            raise
        finally:
            kill_group(process)
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        msg = f"the job exited with code {code}; log: {log_path}\n{tail}"
        raise JobFailedError(msg)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything in its process group (JVM, Python workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
