"""Soak tests: heavy fault injection on a real standalone cluster, run by ``make soak``.

They are outside ``make test`` (``testpaths`` in ``pyproject.toml``) to keep CI in its time
budget. They use the integration tests' fixtures: a fresh local broker, no process left behind.
"""

from tests.integration.conftest import local_broker, no_leftover_processes

__all__ = ["local_broker", "no_leftover_processes"]
