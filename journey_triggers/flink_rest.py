"""Flink's REST API: job metrics for the replay's progress bar and for the tests."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class FlinkRest:
    """Flink's REST API on a local port.

    A standalone cluster's, or a minicluster's given ``rest.port``.
    """

    def __init__(self, rest_port: int) -> None:
        self.rest_port = rest_port

    def rest(self, path: str) -> Any:
        """Return the JSON of ``GET path``."""
        url = f"http://localhost:{self.rest_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def operator_metric(self, job_id: str, metric: str, agg: str = "sum") -> float | None:
        """Return an operator metric's sum (or ``agg``: ``max``, ``min``) over all subtasks.

        None: no such metric yet. Flink's REST API names it ``<operator>.<metric>``.
        """
        from urllib.parse import quote

        total = None
        for vertex in self.rest(f"/jobs/{job_id}")["vertices"]:
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            ids = [m["id"] for m in self.rest(path) if m["id"].endswith(f".{metric}")]
            query = f"{path}?get={quote(','.join(ids))}&agg={agg}"
            for found in self.rest(query) if ids else []:
                value = float(found[agg])
                if total is None:
                    total = value
                elif agg == "sum":
                    total += value
                else:
                    total = max(total, value) if agg == "max" else min(total, value)
        return total
