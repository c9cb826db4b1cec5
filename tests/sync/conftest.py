"""What the engine tests share: a client of the test's emulator and a target over a folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.config.types import FolderConfig, SingleTarget
from plane_sync.core.models import WorkItem
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.targets import Target


@pytest.fixture
def client(emulator: Emulator) -> Iterator[PlaneClient]:
    with PlaneClient(emulator.url, emulator.api_key, emulator.workspace,
                     rate_limit=(1000, 1.0)) as c:
        yield c


def folder_target(root: Path, emu: Emulator, **settings: object) -> Target:
    """A target mapping ``root`` to the emulator's first work item; ``settings`` replace
    FolderConfig fields (the defaults: replace changed files, keep deleted ones, settle 0)."""
    folder = FolderConfig(path=root, target=SingleTarget(identifier="PROJ-1"), include=(),
                          exclude=(), recurse=True, on_change="replace", on_delete="keep",
                          watch="auto", poll_interval=30.0, settle=0.0, rescan_interval=600.0,
                          key="f")
    folder = dataclasses.replace(folder, **settings)  # type: ignore[arg-type]
    item = WorkItem(id=emu.work_items[0]["id"], project_id=emu.project_id)
    return Target(folder, "f", root, item)
