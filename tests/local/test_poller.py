from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from plane_sync.local.batching import ChangeQueue
from plane_sync.local.mounts import Mount
from plane_sync.local.poller import (
    DirFiles,
    FolderPoller,
    RootUnavailable,
    diff_snapshots,
    snapshot_files,
    snapshot_tree,
)
from plane_sync.local.roots import RootProbe


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def hint(self, key: str, rel_path: str | None, seen: object = None) -> None:
        self.calls.append(("hint", key, str(rel_path)))

    def rescan(self, key: str, reason: str) -> None:
        self.calls.append(("rescan", key))

    def folder_unavailable(self, key: str, reason: str, source: str = "watch") -> None:
        self.calls.append(("unavailable", key))

    def folder_available(self, key: str, source: str = "watch") -> None:
        self.calls.append(("available", key))


def test_snapshot_lists_regular_files_relative_posix(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.txt").write_text("1")
    (tmp_path / "a" / "b" / "deep.txt").write_text("22")
    (tmp_path / "link").symlink_to(tmp_path / "top.txt")
    (tmp_path / "dirlink").symlink_to(tmp_path / "a")
    snap = snapshot_tree(tmp_path)
    assert set(snap) == {"", "a/", "a/b/"}  # one entry per directory, symlinks not followed
    files = snapshot_files(snap)
    assert set(files) == {"top.txt", "a/b/deep.txt"}
    st = (tmp_path / "a" / "b" / "deep.txt").stat()
    assert files["a/b/deep.txt"] == (2, st.st_mtime_ns, st.st_ino, st.st_mode)
    # On FUSE shares inode numbers are made up: left out.
    fuse = snapshot_files(snapshot_tree(tmp_path, full=False))
    assert fuse["a/b/deep.txt"] == (2, st.st_mtime_ns, st.st_mode)


def test_snapshot_of_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(RootUnavailable):
        snapshot_tree(tmp_path / "nope")


def _dir(**files: tuple[int, int, int]) -> DirFiles:
    names = tuple(files)
    sigs = [files[name] for name in names]
    return DirFiles(names, tuple(s[0] for s in sigs), tuple(s[1] for s in sigs),
                    tuple(s[2] for s in sigs))


def test_diff_reports_new_changed_removed_and_replaced() -> None:
    old = {"": _dir(same=(1, 1, 1), changed=(1, 1, 2), removed=(1, 1, 3), replaced=(1, 1, 4),
                    touched=(1, 1, 6)),
           "gone/": _dir(a=(1, 1, 7)), "kept/": _dir(k=(1, 1, 8))}
    new = {"": _dir(same=(1, 1, 1), changed=(2, 5, 2), new=(1, 1, 5), replaced=(1, 1, 9),
                    touched=(1, 2, 6)),
           "fresh/": _dir(b=(1, 1, 10)), "kept/": _dir(k=(1, 1, 8))}
    assert sorted(diff_snapshots(old, new)) == [
        "changed", "fresh/b", "gone/a", "new", "removed", "replaced", "touched"]
    assert diff_snapshots(new, new) == []


def test_diff_ignores_a_reordered_listing() -> None:
    old = {"d/": _dir(a=(1, 1, 1), b=(2, 2, 2))}
    new = {"d/": _dir(b=(2, 2, 2), a=(1, 1, 1))}
    assert old != new
    assert diff_snapshots(old, new) == []


def test_only_a_sub_second_mtime_change_is_seen(tmp_path: Path) -> None:
    # Same size, same second: only mtime_ns tells (os.stat_result == compares whole seconds).
    f = tmp_path / "f.txt"
    f.write_text("aa")
    os.utime(f, ns=(1_000_000_000, 5_000_000_100))
    before = snapshot_tree(tmp_path)
    os.utime(f, ns=(1_000_000_000, 5_000_000_200))
    assert diff_snapshots(before, snapshot_tree(tmp_path)) == ["f.txt"]


def test_an_atime_only_change_is_no_change(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("aa")
    before = snapshot_tree(tmp_path)
    mtime_ns = f.stat().st_mtime_ns
    os.utime(f, ns=(mtime_ns + 7_000_000_000, mtime_ns))
    assert diff_snapshots(before, snapshot_tree(tmp_path)) == []


def test_a_chmod_alone_is_a_change(tmp_path: Path) -> None:
    """A file made readable again (chmod) must be looked at: nothing else about it moved."""
    f = tmp_path / "f.txt"
    f.write_text("aa")
    f.chmod(0o000)
    before = snapshot_tree(tmp_path, full=False)
    f.chmod(0o644)
    assert diff_snapshots(before, snapshot_tree(tmp_path, full=False)) == ["f.txt"]


def test_unreadable_subdirectory_keeps_its_previous_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An I/O error on a share (EIO, ESTALE) can't be provoked on a local disk as root: inject it
    # at os.scandir for that one directory.
    sub = tmp_path / "sub"
    (sub / "deeper").mkdir(parents=True)
    (sub / "f").write_text("x")
    (sub / "deeper" / "g").write_text("y")
    (tmp_path / "top").write_text("t")
    before = snapshot_tree(tmp_path)
    real_scandir = os.scandir

    def failing_scandir(path: str) -> object:
        if path == str(sub):
            raise OSError(errno.EIO, "Input/output error", path)
        return real_scandir(path)

    monkeypatch.setattr("plane_sync.local.poller.os.scandir", failing_scandir)
    (tmp_path / "top").unlink()
    after = snapshot_tree(tmp_path, before)
    assert snapshot_files(after) == {k: v for k, v in snapshot_files(before).items()
                                     if k.startswith("sub/")}
    assert after["sub/deeper/"] == before["sub/deeper/"]  # and everything below it
    assert diff_snapshots(before, after) == ["top"]


_REAL_SCANDIR = os.scandir


class _FailsMidListing:
    """A scandir that yields the real first entry, then fails like a share losing a read."""

    def __init__(self, path: str) -> None:
        with _REAL_SCANDIR(path) as entries:
            self._entries = iter(sorted(entries, key=lambda e: e.name)[:1])

    def __enter__(self) -> _FailsMidListing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> _FailsMidListing:
        return self

    def __next__(self) -> os.DirEntry[str]:
        for entry in self._entries:
            return entry
        raise OSError(errno.EIO, "Input/output error")


def test_directory_failing_mid_listing_keeps_its_previous_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "sub"
    (sub / "z").mkdir(parents=True)
    (sub / "a").write_text("a")
    (sub / "b").write_text("b")
    (sub / "z" / "c").write_text("c")
    before = snapshot_tree(tmp_path)
    monkeypatch.setattr("plane_sync.local.poller.os.scandir",
                        lambda path: _FailsMidListing(path) if path == str(sub)
                        else _REAL_SCANDIR(path))
    after = snapshot_tree(tmp_path, before)
    assert after == before
    with pytest.raises(RootUnavailable):  # the root failing mid-listing: no pass at all
        monkeypatch.setattr("plane_sync.local.poller.os.scandir", _FailsMidListing)
        snapshot_tree(tmp_path, before)


def test_vanished_subdirectory_is_reported_removed(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "sub" / "deep" / "f").write_text("f")
    before = snapshot_tree(tmp_path)
    shutil.rmtree(tmp_path / "sub")
    assert diff_snapshots(before, snapshot_tree(tmp_path, before)) == ["sub/deep/f"]


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


def test_a_poll_on_another_mount_than_armed_reports_nothing(tmp_path: Path) -> None:
    """What a moved mount means is the watcher's to say (test_watch_mounts.py): the poller
    only does not walk it (an unmounted share's empty mount point would look like every
    file deleted)."""
    (tmp_path / "a.txt").write_text("a")
    probe = RootProbe(tmp_path)
    probe.arm(str(tmp_path), Mount("/definitely/not/the/mount", "cifs", "//x/y", -7))
    assert probe.mount_moved()
    sink = RecordingSink()
    poller = FolderPoller("f", tmp_path, sink, interval=3600, probe=probe)
    assert poller.poll_once() == [] and poller.poll_once() == []
    assert sink.calls == []


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
