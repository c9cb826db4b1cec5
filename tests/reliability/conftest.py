"""The reliability suite: each case of "never silently out of sync" against the emulator.

Reuses the end-to-end ``world`` (emulator on loopback + the CLI as a subprocess) and adds an
in-process engine over the same emulator for the cases that need a clock moved by hand
(takeover after minutes, a size limit asked again an hour later).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from plane_sync.config.load import load_config
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.engine import Engine
from plane_sync.sync.size_limit import SizeLimit
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target, WorkItemResolver, resolve_targets
from tests.e2e_sync.conftest import World
from tests.e2e_sync.conftest import world as world
from tests.e2e_sync.conftest import world_factory as world_factory


class Clock:
    """A wall clock moved by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Local:
    """An engine in this process on the world's first folder."""

    world: World
    client: PlaneClient
    state: StateDB
    target: Target
    clock: Clock

    def engine(self, size_limit: int | SizeLimit = 5 * 1024 * 1024) -> Engine:
        return Engine(self.client, self.state, size_limit=size_limit,
                      external_source="plane-sync", clock=self.clock)


def open_local(site: World, tmp: Path, *, state_name: str = "local-state") -> Local:
    config = load_config(site.write_config(path=tmp / f"{state_name}.yaml",
                                           state_dir=tmp / state_name),
                         env={"PLANE_API_KEY": site.api_key})
    client = PlaneClient(site.emu.url, site.emu.api_key, site.emu.workspace,
                         rate_limit=(100_000, 1.0), sleep=lambda s: None)
    targets, _ = resolve_targets(config.folders, WorkItemResolver(client))
    state = StateDB(tmp / state_name / "state.db")
    return Local(site, client, state, targets[0], Clock())


@pytest.fixture
def local(world: World, tmp_path: Path) -> Iterator[Local]:
    found = open_local(world, tmp_path)
    yield found
    found.state.close()
    found.client.close()
