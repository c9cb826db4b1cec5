"""The daemon as a subprocess against the emulator: what lands in Plane, and how often."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from plane_sync.core.identity import attachment_name_for
from plane_sync.emulator import Emulator

from .conftest import DaemonFactory, attached, attached_names, folder_entry, wait_until


def test_slow_write_is_uploaded_once_complete(emu: Emulator, daemon_factory: DaemonFactory,
                                              item: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=1.0)
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    content = os.urandom(50_000)
    with open(folder / "slow.bin", "wb") as f:
        for i in range(10):  # 5 s of writing, 0.5 s apart: longer than the settle time
            f.write(content[i * 5000:(i + 1) * 5000])
            f.flush()
            time.sleep(0.5)
    wait_until(lambda: attached(emu, item["id"]), 30, "slow.bin attached")
    time.sleep(1.5)  # give a wrong second upload the chance to show up
    rows = attached(emu, item["id"])
    assert [r["attributes"]["name"] for r in rows] == ["slow.bin"]
    assert emu.stored_object(rows[0]["asset"]) == content
    assert daemon.stop() == 0
    [done] = daemon.uploads()
    assert (done["path"], done["bytes"], done["work_item"]) == ("slow.bin", 50_000, "PROJ-1")
    assert done["folder"] == str(folder) and isinstance(done["ms"], int)


def _make_tree(base: Path, files: int, dirs: int = 0, per_dir: int = 0) -> dict[str, bytes]:
    """Files to copy in later; returns rel_path -> content."""
    contents: dict[str, bytes] = {}
    for i in range(files):
        contents[f"f{i:04d}.txt"] = f"file {i}\n".encode()
    for d in range(dirs):
        for i in range(per_dir):
            contents[f"new{d}/sub/g{i:03d}.txt"] = f"dir {d} file {i}\n".encode()
    for rel, data in contents.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return contents


def _copy_in(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, dirs_exist_ok=True)


def _assert_each_attached_once(emu: Emulator, item_id: str, rels: list[str],
                               timeout: float) -> None:
    expected = sorted(attachment_name_for(r) for r in rels)
    wait_until(lambda: len(attached(emu, item_id)) >= len(expected), timeout,
               f"{len(expected)} attachments")
    assert attached_names(emu, item_id) == expected


def test_thousand_files_and_new_directories_each_uploaded_once(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "bulk"
    folder.mkdir()
    source = tmp_path / "source"
    contents = _make_tree(source, 1000, dirs=5, per_dir=20)
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=0.3)
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done")
    _copy_in(source, folder)  # directories created during the copy, files landing in them
    _assert_each_attached_once(emu, item["id"], list(contents), timeout=90)
    assert daemon.stop() == 0
    assert sorted(e["path"] for e in daemon.uploads()) == sorted(contents)


MAX_QUEUED = Path("/proc/sys/fs/inotify/max_queued_events")


def test_inotify_overflow_ends_in_a_rescan_that_attaches_everything(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    if not os.access(MAX_QUEUED, os.W_OK):
        pytest.skip("needs root to lower fs.inotify.max_queued_events")
    folder = tmp_path / "flood"
    folder.mkdir()
    source = tmp_path / "source"
    contents = _make_tree(source, 300)
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=0.3)
    saved = MAX_QUEUED.read_text()
    try:
        # Read at inotify_init(): the daemon's observer (created once its watchers are
        # armed, before "daemon.ready") gets a 16-event queue.
        MAX_QUEUED.write_text("16\n")
        daemon.start()
        daemon.wait_event("daemon.ready")
    finally:
        MAX_QUEUED.write_text(saved)
    daemon.wait_event("daemon.initial_sync_done")
    _copy_in(source, folder)
    daemon.wait_event("watch.overflow")
    _assert_each_attached_once(emu, item["id"], list(contents), timeout=60)
    assert daemon.stop() == 0


def test_temp_file_rename_and_office_lock_files_leave_only_the_final_file(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=0.5)
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done")
    # An office program opens the documents: lock files appear next to them.
    (folder / "~$report.docx").write_bytes(b"owner lock")
    (folder / ".~lock.budget.odt#").write_bytes(b"owner lock")
    # Saving: write a temp file, then rename it over the real name (twice: two saves).
    for version in (b"version 1", b"version 2, final"):
        temp = folder / "report.docx.tmp"
        with open(temp, "wb") as f:
            f.write(version[:4])
            f.flush()
            time.sleep(0.2)
            f.write(version[4:])
        os.rename(temp, folder / "report.docx")
        (folder / "budget.odt.part").write_bytes(version)
        os.rename(folder / "budget.odt.part", folder / "budget.odt")
        time.sleep(0.1)
    (folder / "~$report.docx").unlink()
    (folder / ".~lock.budget.odt#").unlink()

    def final_versions() -> bool:
        rows = attached(emu, item["id"])
        return sorted((r["attributes"]["name"], emu.stored_object(r["asset"])) for r in rows) \
            == [("budget.odt", b"version 2, final"), ("report.docx", b"version 2, final")]

    wait_until(final_versions, 30, "only the final report.docx and budget.odt attached")
    time.sleep(1.0)  # a late duplicate would show up now
    assert final_versions()
    ever = {r["attributes"]["name"] for r in emu.attachments(
        item["id"], include_pending=True, include_deleted=True)}
    assert ever <= {"report.docx", "budget.odt"}  # no lock or temp file, ever
    assert daemon.stop() == 0


def test_poll_mode_attaches_new_and_changed_files(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "old.txt").write_bytes(b"old")
    # The rescan is far beyond the wait below: only the poller can find the changes.
    daemon = daemon_factory([folder_entry(folder, item["identifier"],
                                          rescan_interval="1h")], watch="poll",
                            poll_interval=1.0, settle=0.3)
    daemon.start()
    added = daemon.wait_event("watch.added")
    assert added["mode"] == "poll"
    wait_until(lambda: attached_names(emu, item["id"]) == ["old.txt"], 30, "old.txt")
    (folder / "new.txt").write_bytes(b"new")
    (folder / "old.txt").write_bytes(b"old, changed")

    def both() -> bool:
        rows = attached(emu, item["id"])
        return sorted((r["attributes"]["name"], emu.stored_object(r["asset"])) for r in rows) \
            == [("new.txt", b"new"), ("old.txt", b"old, changed")]

    wait_until(both, 30, "new.txt and the changed old.txt attached")
    assert daemon.stop() == 0


def test_removed_folder_deletes_nothing_and_syncs_again_when_back(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "mount"
    folder.mkdir()
    names = [f"doc{i}.txt" for i in range(5)]
    for name in names:
        (folder / name).write_text(name)
    daemon = daemon_factory([folder_entry(folder, item["identifier"], on_delete="delete")],
                            settle=0.2)
    daemon.start()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 30, "five files attached")
    shutil.rmtree(folder)
    daemon.wait_event("sync.paused", timeout=30)
    time.sleep(1.0)  # a wrong pass would delete now
    assert attached_names(emu, item["id"]) == names
    # The share comes back, with one file more.
    folder.mkdir()
    for name in [*names, "while-away.txt"]:
        (folder / name).write_text(name)
    daemon.wait_event("sync.resumed", timeout=30)
    wait_until(lambda: attached_names(emu, item["id"]) == sorted([*names, "while-away.txt"]),
               30, "while-away.txt attached")
    deleted = [r for r in emu.attachments(item["id"], include_deleted=True)
               if r["deleted_at"] is not None]
    assert deleted == []
    assert daemon.stop() == 0


def test_share_with_a_clock_behind_does_not_upload_a_half_written_file(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    # On SMB/NFS the server stamps mtime with its own clock. If that clock is an hour behind,
    # "mtime older than settle" is true while the file is still being written; only watching
    # size and mtime hold still over time tells the truth.
    folder = tmp_path / "share"
    folder.mkdir()
    # Rescans every second make passes happen in the middle of the write.
    daemon = daemon_factory([folder_entry(folder, item["identifier"], watch="poll",
                                          poll_interval="0.5s", rescan_interval="1s")],
                            settle=1.0)
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    content = os.urandom(40_000)
    path = folder / "report.bin"
    with open(path, "wb") as f:
        for i in range(8):  # 4 s of writing, with pauses shorter than the settle time
            f.write(content[i * 5000:(i + 1) * 5000])
            f.flush()
            behind = time.time() - 3600 + i
            os.utime(path, (behind, behind))
            time.sleep(0.5)
    wait_until(lambda: attached(emu, item["id"]), 30, "report.bin attached")
    time.sleep(2.0)  # a premature upload would now be replaced by a second one
    every = emu.attachments(item["id"], include_pending=True, include_deleted=True)
    assert len(every) == 1, [r["attributes"] for r in every]
    assert emu.stored_object(every[0]["asset"]) == content
    assert daemon.stop() == 0
