"""A directory the scan cannot list holds back only what is below it, and keeps its hashes.

Tests run as root here, which reads any directory whatever its mode, so the unreadable
directory is made by failing its listing (the one corner a real filesystem cannot reach for
root); the e2e_share suite meets real I/O errors on a real share.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from plane_sync.emulator import Emulator
from plane_sync.local import scan as scan_module
from plane_sync.local.mounts import Mount, device_string
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.engine import Engine
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from tests.sync.conftest import folder_target

LIMIT = 5 * 1024 * 1024


def _target(root: Path, emu: Emulator, **settings: object) -> Target:
    return folder_target(root, emu, **{"on_delete": "delete", **settings})


def _fail_listing(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    real_list_dir = scan_module._list_dir

    def list_dir(fd: int) -> list[os.DirEntry[str]]:
        if os.readlink(f"/proc/self/fd/{fd}") == str(directory):
            raise OSError(errno.EIO, "Input/output error")
        return real_list_dir(fd)

    monkeypatch.setattr(scan_module, "_list_dir", list_dir)


def test_an_unreadable_directory_holds_back_only_its_own_deletions(
        emulator: Emulator, client: PlaneClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "folder"
    (root / "sub").mkdir(parents=True)
    for name in ("top1.txt", "top2.txt", "top3.txt", "sub/a.txt", "sub/b.txt"):
        (root / name).write_text(name)
    target = _target(root, emulator)
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        assert len(engine.sync_target(target).uploaded) == 5

        (root / "top1.txt").unlink()
        _fail_listing(monkeypatch, root / "sub")
        report = engine.sync_target(target)
        assert [name for name, _ in report.deleted] == ["top1.txt"]
        assert report.held is None
        assert [(p, "Input/output error" in r) for p, r in report.skipped] == [("sub", True)]
        names = sorted(a["attributes"]["name"] for a in emulator.attachments(
            target.work_item.id))
        assert names == ["sub ⁄ a.txt", "sub ⁄ b.txt", "top2.txt", "top3.txt"]

        # The hashes below it were kept: once it can be listed again, nothing is read.
        monkeypatch.undo()
        fresh = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        again = fresh.sync_target(target)
        assert again.hashed == 0 and again.uploaded == [] and again.deleted == []


def test_a_file_still_settling_keeps_the_other_hashes(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    """The pass that finds a new file still being written reads nothing else, and the next
    pass reads only that file (the hashes were pruned to the files taken, so every file
    was read again on the next pass)."""
    root = tmp_path / "folder"
    root.mkdir()
    for i in range(20):
        (root / f"f{i}.txt").write_text(f"file {i}")
    target = _target(root, emulator)
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        engine.sync_target(target)
        (root / "new.txt").write_text("new")
        waiting = engine.sync_target(target, settled=lambda rel, st: rel != "new.txt")
        assert [p for p, _ in waiting.waiting] == ["new.txt"] and waiting.hashed == 0
        done = Engine(client, state, size_limit=LIMIT,
                      external_source="plane-sync").sync_target(target)
        assert done.hashed == 1 and done.uploaded == [("new.txt", 3)]


def test_a_pass_over_the_empty_mount_point_keeps_the_shares_hashes(
        emulator: Emulator, client: PlaneClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that runs in the moment between an unmount and the watcher noticing it sees
    the empty mount point (another filesystem): the share's hashes must survive it, or the
    remount reads the whole share again."""
    root = tmp_path / "mnt"
    root.mkdir()
    for i in range(5):
        (root / f"f{i}.txt").write_text(f"file {i}")
    dev = device_string(os.stat(root).st_dev)
    sshfs = [Mount(str(root), "fuse.sshfs", "u@host:/srv", 45, dev, "/")]
    target = _target(root, emulator)
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        monkeypatch.setattr(scan_module, "read_mounts", lambda: sshfs)
        assert engine.sync_target(target).hashed == 5
        stash = tmp_path / "stash"
        root.rename(stash)  # unmounted: an empty directory on the local disk is left
        root.mkdir()
        monkeypatch.setattr(scan_module, "read_mounts", lambda: [])
        engine.sync_target(target)
        root.rmdir()
        stash.rename(root)  # mounted again
        monkeypatch.setattr(scan_module, "read_mounts", lambda: sshfs)
        again = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        assert again.sync_target(target).hashed == 0
