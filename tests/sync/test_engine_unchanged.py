"""A pass over a folder unchanged since its last clean pass asks Plane nothing; any change,
a pass that was not clean, or a pass that must list (a re-check) lists the work item first."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.engine import Engine
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from tests.sync.conftest import folder_target

LIMIT = 5 * 1024 * 1024


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB(tmp_path / "state.db") as db:
        yield db


def make_target(root: Path, emu: Emulator, **settings: object) -> Target:
    return folder_target(root, emu, **{"on_delete": "delete", **settings})


def lists(emu: Emulator) -> int:
    return sum(1 for r in emu.requests()
               if r.server == "api" and r.method == "GET" and r.path.endswith("/attachments/"))


@pytest.fixture
def setup(emulator: Emulator, client: PlaneClient, state: StateDB,
          tmp_path: Path) -> tuple[Engine, Target, Path]:
    root = tmp_path / "folder"
    root.mkdir()
    for name in ("a.txt", "c.txt", "d.txt"):  # three: losing one is no mass deletion
        (root / name).write_text(name[0])
    (root / "link").symlink_to("a.txt")  # skipped, and the same skip reported again
    engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
    first = engine.sync_target(make_target(root, emulator), listing=False)
    assert first.listed and len(first.uploaded) == 3  # nothing known: listed
    emulator.clear_requests()
    return engine, make_target(root, emulator), root


def test_an_unchanged_folder_is_not_listed(emulator: Emulator,
                                           setup: tuple[Engine, Target, Path]) -> None:
    engine, target, root = setup
    os.utime(root / "a.txt", (1, 1))  # touched: hashed again, same content
    report = engine.sync_target(target, listing=False)
    assert not report.listed and lists(emulator) == 0
    assert report.ok and report.in_sync == 3 and report.skipped == [
        ("link", "symbolic link: not followed")]
    assert engine.state.folder_statuses()[0].files_in_sync == 3


def test_a_recheck_lists_anyway_and_sees_a_hand_deleted_attachment(
        emulator: Emulator, client: PlaneClient,
        setup: tuple[Engine, Target, Path]) -> None:
    engine, target, _ = setup
    row = next(r for r in client.list_attachments(target.work_item) if r.name == "a.txt")
    client.delete_attachment(target.work_item, row.id)  # by hand, in Plane
    assert engine.sync_target(target, listing=False).uploaded == []  # cannot know
    report = engine.sync_target(target, listing=True)
    assert report.listed and report.uploaded == [("a.txt", 1)]


@pytest.mark.parametrize("change", ["added", "changed", "removed", "setting"])
def test_any_change_lists_first(emulator: Emulator, setup: tuple[Engine, Target, Path],
                                change: str) -> None:
    engine, target, root = setup
    if change == "added":
        (root / "b.txt").write_text("b")
    elif change == "changed":
        (root / "a.txt").write_text("A")
    elif change == "removed":
        (root / "a.txt").unlink()
    else:
        target = make_target(root, emulator, on_delete="keep")
    report = engine.sync_target(target, listing=False)
    assert report.listed and lists(emulator) == 1
    expected = {"added": ([("b.txt", 1)], []), "changed": ([("a.txt", 1)], ["a.txt"]),
                "removed": ([], ["a.txt"]), "setting": ([], [])}[change]
    assert (report.uploaded, [name for name, _ in report.deleted]) == expected


def test_a_pass_that_was_not_clean_is_not_remembered(
        emulator: Emulator, setup: tuple[Engine, Target, Path]) -> None:
    engine, target, root = setup
    (root / "b.txt").write_text("b")
    emulator.faults.set(storage_error_rate=1.0)
    failed = engine.sync_target(target, listing=False)
    assert failed.failed and failed.listed
    emulator.faults.set(storage_error_rate=0.0)
    engine.state.clear_failure(target.key, "b.txt")  # due again
    report = engine.sync_target(target, listing=False)
    assert report.listed and report.uploaded == [("b.txt", 1)]
    assert not engine.sync_target(target, listing=False).listed


def test_files_still_changing_wait_without_asking_plane(
        emulator: Emulator, setup: tuple[Engine, Target, Path]) -> None:
    engine, target, root = setup
    (root / "growing.bin").write_bytes(b"x" * 10)
    report = engine.sync_target(target, listing=False, settled=lambda rel, st: rel != "growing.bin")
    assert not report.listed and [p for p, _ in report.waiting] == ["growing.bin"]
    report = engine.sync_target(target, listing=False)  # settled now: a change
    assert report.listed and report.uploaded == [("growing.bin", 10)]


def test_a_dry_run_always_lists(emulator: Emulator, client: PlaneClient, state: StateDB,
                                setup: tuple[Engine, Target, Path]) -> None:
    _, target, _ = setup
    dry = Engine(client, state, size_limit=LIMIT, external_source="plane-sync", dry_run=True)
    assert dry.sync_target(target, listing=False).listed


def test_a_pass_that_ended_abnormally_after_changing_plane_is_not_taken_as_the_last_clean(
        emulator: Emulator, setup: tuple[Engine, Target, Path]) -> None:
    """The soak test's case: a pass uploads b.txt and then raises (server trouble, a stop);
    b.txt is deleted again. The folder now looks as it did at the last clean pass, but Plane
    holds b.txt: the next pass must list and delete it, not skip as "unchanged"."""
    engine, target, root = setup
    (root / "b.txt").write_text("b")

    def trouble_after_the_upload(nbytes: int) -> None:
        raise RuntimeError("Plane trouble after the upload")

    engine.uploads.progress = dataclasses.replace(engine.uploads.progress,
                                                  on_file_done=trouble_after_the_upload)
    with pytest.raises(RuntimeError):
        engine.sync_target(target, listing=False)
    names = [r["attributes"]["name"] for r in emulator.attachments(emulator.work_items[0]["id"])]
    assert "b.txt" in names  # the upload reached Plane before the pass ended
    (root / "b.txt").unlink()
    report = engine.sync_target(target, listing=False)
    assert report.listed and [name for name, _ in report.deleted] == ["b.txt"]
