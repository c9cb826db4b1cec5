"""Fixtures for the spec-compliance audit tests (issues 2, 3 and 4).

Re-exports the fixtures of the other suites so that audit tests can use them:

- ``emulator``, ``emulator_factory`` (tests/conftest.py, inherited by directory);
- ``world``, ``world_factory`` (tests/e2e_sync/conftest.py): the CLI as a subprocess;
- ``emu``, ``daemon_factory`` (tests/e2e_daemon/conftest.py): ``plane-sync run`` as a
  subprocess.

Plus ``emulator_process``: ``plane-sync emulator`` started as its own process (so that memory
measured in this process is the client's alone).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e_daemon.conftest import daemon_factory, emu  # noqa: F401 (fixtures)
from tests.e2e_sync.conftest import world, world_factory  # noqa: F401 (fixtures)

EmulatorProcess = Callable[..., dict[str, Any]]


@pytest.fixture
def emulator_process() -> Iterator[EmulatorProcess]:
    """``start(*cli_args)`` runs ``plane-sync emulator --port 0 *cli_args`` and returns its
    ready line (url, api_key, workspace, ...). Every process is stopped at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> dict[str, Any]:
        proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "emulator", "--port", "0",
                                 *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        procs.append(proc)
        assert proc.stdout is not None
        ready: dict[str, Any] = json.loads(proc.stdout.readline())
        return ready

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
