"""The README's demo command, end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from journey_triggers.jobrunner import job_environment

pytestmark = pytest.mark.integration


def test_demo_prints_decisions_agrees_with_reference_and_leaves_nothing_running(
    tmp_path, no_leftover_processes
):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "journey_triggers.cli",
            "demo",
            "--customers",
            "60",
            "--show",
            "3",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=job_environment(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "same decisions as the plain-Python reference semantics: yes" in result.stdout
    shown = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(shown) == 3
    assert all(d["rule_id"] == "cart_abandonment" and d["status"] == "fired" for d in shown)
    assert all(len(d["decision_id"]) == 32 for d in shown)
    # The demo trains a model and reads the generator's catalog: decisions carry both.
    assert all(0.0 <= d["score"] <= 1.0 and len(d["model_version"]) == 12 for d in shown)
    assert all(d["product"]["in_catalog"] for d in shown)
    assert "holdout ROC AUC" in result.stdout
