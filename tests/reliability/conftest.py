"""The reliability suite: each case of "never silently out of sync" against the emulator.

Reuses the end-to-end ``world`` (emulator on loopback + the CLI as a subprocess) and adds an
in-process engine over the same emulator for the cases that need a clock moved by hand
(takeover after minutes, a size limit asked again an hour later).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from plane_sync.config.load import load_config
from plane_sync.core.identity import attachment_name_for
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target, WorkItemResolver, resolve_targets
from tests.e2e_sync.conftest import World
from tests.e2e_sync.conftest import world as world
from tests.e2e_sync.conftest import world_factory as world_factory

if TYPE_CHECKING:  # only the in-process cases need the engine's API of this branch
    from plane_sync.sync.engine import Engine
    from plane_sync.sync.size_limit import SizeLimit


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
        from plane_sync.sync.engine import Engine

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


def differences(world: World, number: int = 1) -> list[str]:
    """What stands between work item PROJ-<number> and the folder, judged from the emulator's
    side, independent of plane-sync's code: every file attached once with its current bytes,
    nothing else listed. (Pending attachments are not listed, so not counted; neither does
    ``verify``.)"""
    expected = {attachment_name_for(str(p.relative_to(world.folder))): p.read_bytes()
                for p in world.folder.rglob("*") if p.is_file()}
    listed: dict[str, list[dict[str, Any]]] = {}
    for row in world.uploaded(number):
        listed.setdefault(str(row["attributes"]["name"]), []).append(row)
    found = []
    for name, data in sorted(expected.items()):
        rows = listed.pop(name, [])
        if len(rows) != 1:
            found.append(f"{name} attached {len(rows)} times")
        elif world.emu.stored_object(rows[0]["asset"]) != data:
            found.append(f"{name} has other content")
    return found + [f"{name} attached, its file gone" for name in sorted(listed)]
