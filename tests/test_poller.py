from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from plane_sync.batching import ChangeQueue
from plane_sync.poller import FolderPoller, RootUnavailable, diff_snapshots, snapshot_tree
from plane_sync.watch_roots import RootProbe


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def hint(self, key: str, rel_path: str | None) -> None:
        self.calls.append(("hint", key, str(rel_path)))

    def rescan(self, key: str, reason: str) -> None:
        self.calls.append(("rescan", key))

    def folder_unavailable(self, key: str, reason: str) -> None:
        self.calls.append(("unavailable", key))

    def folder_available(self, key: str) -> None:
        self.calls.append(("available", key))


def test_snapshot_lists_regular_files_relative_posix(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.txt").write_text("1")
    (tmp_path / "a" / "b" / "deep.txt").write_text("22")
    (tmp_path / "link").symlink_to(tmp_path / "top.txt")
    (tmp_path / "dirlink").symlink_to(tmp_path / "a")
    snap = snapshot_tree(tmp_path)
    assert set(snap) == {"top.txt", "a/b/deep.txt"}
    assert snap["a/b/deep.txt"][0] == 2
    assert snap["top.txt"][2] == (tmp_path / "top.txt").stat().st_ino


def test_snapshot_of_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(RootUnavailable):
        snapshot_tree(tmp_path / "nope")


def test_diff_reports_new_changed_removed_and_replaced() -> None:
    old = {"same": (1, 1, 1), "changed": (1, 1, 2), "removed": (1, 1, 3), "replaced": (1, 1, 4)}
    new = {"same": (1, 1, 1), "changed": (2, 5, 2), "new": (1, 1, 5), "replaced": (1, 1, 9)}
    assert sorted(diff_snapshots(old, new)) == ["changed", "new", "removed", "replaced"]


def test_unreadable_subdirectory_keeps_its_previous_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An I/O error on a share (EIO, ESTALE) can't be provoked on a local disk as root: inject it
    # at os.scandir for that one directory.
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "f").write_text("x")
    (tmp_path / "top").write_text("t")
    before = snapshot_tree(tmp_path)
    real_scandir = os.scandir

    def failing_scandir(path: str) -> object:
        if path == str(sub):
            raise OSError(errno.EIO, "Input/output error", path)
        return real_scandir(path)

    monkeypatch.setattr("plane_sync.poller.os.scandir", failing_scandir)
    (tmp_path / "top").unlink()
    after = snapshot_tree(tmp_path, before)
    assert after == {"sub/f": before["sub/f"]}


def test_poller_reports_new_changed_removed(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("k")
    (tmp_path / "edit.txt").write_text("1")
    (tmp_path / "gone.txt").write_text("g")
    sink = RecordingSink()
    poller = FolderPoller("f", tmp_path, sink, interval=3600)
    assert poller.poll_once() == []  # baseline is silent
    (tmp_path / "edit.txt").write_text("22")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.txt").write_text("n")
    assert sorted(poller.poll_once()) == ["edit.txt", "gone.txt", "sub/new.txt"]
    assert sorted(sink.calls) == [("hint", "f", "edit.txt"), ("hint", "f", "gone.txt"),
                                  ("hint", "f", "sub/new.txt")]
    assert poller.poll_once() == []


def test_poller_turns_too_many_changes_into_a_rescan(tmp_path: Path) -> None:
    sink = RecordingSink()
    poller = FolderPoller("f", tmp_path, sink, interval=3600, cap=3)
    poller.poll_once()
    for i in range(4):
        (tmp_path / f"{i}.txt").write_text("x")
    poller.poll_once()
    assert sink.calls == [("rescan", "f")]


def test_vanished_root_is_unavailable_not_deleted_then_rescanned(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text("a")
    queue = ChangeQueue(quiet=0)
    poller = FolderPoller("f", root, queue, interval=3600)
    poller.poll_once()
    shutil.rmtree(root)
    assert poller.poll_once() == []  # no "a.txt removed"
    assert poller.poll_once() == []
    assert queue.unavailable() == {"f": "folder root does not exist"}
    assert queue.take_due() == []
    root.mkdir()
    (root / "a.txt").write_text("a")
    poller.poll_once()
    assert [s.available for s in queue.take_status()] == [False, True]
    [batch] = queue.take_due()
    assert batch.paths is None  # whole-folder rescan when it is back
    (root / "b.txt").write_text("b")
    assert poller.poll_once() == ["b.txt"]


def test_root_on_another_mount_counts_as_unmounted(tmp_path: Path) -> None:
    probe = RootProbe(tmp_path, expected_mount="/definitely/not/the/mount")
    reason = probe.check()
    assert reason is not None
    assert "share unmounted?" in reason


@pytest.mark.timeout(60)
def test_poller_thread_reports_to_the_queue(tmp_path: Path) -> None:
    queue = ChangeQueue(quiet=0)
    poller = FolderPoller("f", tmp_path, queue, interval=0.05)
    poller.start()
    try:
        (tmp_path / "x.txt").write_text("x")
        while not queue.wait(timeout=30):
            pass
        assert [b.paths for b in queue.take_due()] == [frozenset({"x.txt"})]
    finally:
        poller.stop()
