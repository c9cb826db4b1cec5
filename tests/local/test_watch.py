"""The watcher against real inotify on temp dirs. No timed assertions: every wait is a
generous timeout on the ChangeQueue, and the test only fails if the hint never comes."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from watchdog.observers.inotify import InotifyObserver

from plane_sync.local import inotify_limits
from plane_sync.local.batching import Batch, ChangeQueue
from plane_sync.local.watch import OVERFLOW_LOGGER, Watcher, choose_mode

pytestmark = pytest.mark.timeout(90)
WAIT = 60.0  # generous: only reached when the test is failing anyway


@pytest.fixture
def queue() -> ChangeQueue:
    return ChangeQueue(quiet=0.05, max_wait=1.0)


@pytest.fixture
def watcher(queue: ChangeQueue) -> Iterator[Watcher]:
    w = Watcher(queue, poll_interval_default=0.05, root_check_interval=0.05)
    yield w
    w.stop()


def collect_until(queue: ChangeQueue, done: Callable[[list[Batch]], bool]) -> list[Batch]:
    """Take batches until ``done(batches)`` holds; give up (and return) after WAIT seconds."""
    batches: list[Batch] = []
    deadline = time.monotonic() + WAIT
    while not done(batches) and time.monotonic() < deadline:
        queue.wait(timeout=0.5)
        batches.extend(queue.take_due())
    return batches


def hinted(batches: list[Batch]) -> set[str]:
    return {p for b in batches if b.paths is not None for p in b.paths}


def rescanned(batches: list[Batch]) -> bool:
    return any(b.paths is None for b in batches)


def test_local_folder_uses_inotify_and_a_written_file_is_hinted(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    fw = watcher.add("docs", tmp_path)
    assert fw.mode == "inotify"
    watcher.start()
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    batches = collect_until(queue, lambda b: "report.pdf" in hinted(b))
    assert "report.pdf" in hinted(batches)
    assert {b.key for b in batches} == {"docs"}


def test_a_chmod_alone_is_hinted(tmp_path: Path, watcher: Watcher,
                                 queue: ChangeQueue) -> None:
    """A file made readable again changes nothing but its mode: it must still be looked at."""
    (tmp_path / "locked.pdf").write_bytes(b"%PDF")
    (tmp_path / "locked.pdf").chmod(0o000)
    watcher.add("docs", tmp_path)
    watcher.start()
    (tmp_path / "locked.pdf").chmod(0o644)
    assert "locked.pdf" in hinted(collect_until(queue, lambda b: "locked.pdf" in hinted(b)))


def test_files_written_into_a_just_created_directory_all_arrive(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    watcher.add("docs", tmp_path)
    watcher.start()
    expected = set()
    for d in range(5):
        sub = tmp_path / f"new{d}" / "deeper"
        sub.mkdir(parents=True)
        for i in range(40):
            (sub / f"f{i}.txt").write_text("x" * i)
            expected.add(f"new{d}/deeper/f{i}.txt")
    batches = collect_until(queue, lambda b: rescanned(b) or expected <= hinted(b))
    assert rescanned(batches) or expected <= hinted(batches)


def test_moved_in_and_deleted_files_are_hinted_and_dir_removal_rescans(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "inner.txt").write_text("i")
    (root / "old.txt").write_text("o")
    outside = tmp_path / "outside.txt"
    outside.write_text("m")
    watcher.add("docs", root)
    watcher.start()
    outside.rename(root / "moved-in.txt")
    (root / "old.txt").unlink()
    batches = collect_until(queue, lambda b: {"moved-in.txt", "old.txt"} <= hinted(b))
    assert {"moved-in.txt", "old.txt"} <= hinted(batches)
    (root / "sub").rename(tmp_path / "sub-moved-out")  # its files get no event of their own
    batches = collect_until(queue, rescanned)
    assert rescanned(batches)


def test_overflow_warning_becomes_a_rescan_of_inotify_folders(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    # Simulated the way watchdog 7.1 reports it (inotify_c.InotifyFD.handle_event): a WARNING
    # on its own logger and no event at all. The real overflow is the next test.
    (tmp_path / "a").mkdir()
    (tmp_path / "p").mkdir()
    watcher.add("a", tmp_path / "a")
    watcher.add("p", tmp_path / "p", mode="poll", poll_interval=3600)
    watcher.start()
    logging.getLogger(OVERFLOW_LOGGER).warning(
        "Inotify queue overflowed; filesystem events were lost")
    batches = collect_until(queue, rescanned)
    assert [(b.key, b.paths, b.reason) for b in batches] == [
        ("a", None, "inotify queue overflow")]


def test_overflow_detection_survives_a_quiet_root_logger(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    root_logger = logging.getLogger()
    saved = root_logger.level
    root_logger.setLevel(logging.ERROR)  # a user asking for errors only must not lose rescans
    try:
        watcher.add("a", tmp_path)
        watcher.start()
        logging.getLogger(OVERFLOW_LOGGER).warning(
            "Inotify queue overflowed; filesystem events were lost")
        assert rescanned(collect_until(queue, rescanned))
    finally:
        root_logger.setLevel(saved)


MAX_QUEUED = Path("/proc/sys/fs/inotify/max_queued_events")


def test_real_inotify_queue_overflow_becomes_a_rescan(
    tmp_path: Path, queue: ChangeQueue
) -> None:
    if not os.access(MAX_QUEUED, os.W_OK):
        pytest.skip("needs root to lower fs.inotify.max_queued_events")
    saved = MAX_QUEUED.read_text()
    watcher = Watcher(queue, root_check_interval=0.05)
    try:
        # Read at inotify_init(): the observer created by start() gets the tiny queue.
        MAX_QUEUED.write_text("16\n")
        watcher.add("a", tmp_path)
        watcher.start()
    finally:
        MAX_QUEUED.write_text(saved)
    try:
        # Whether 16 slots overflow depends on how fast watchdog's reader runs: write bursts
        # until a rescan shows up (or give up after 30,000 files).
        batches: list[Batch] = []
        for burst in range(15):
            for i in range(2000):
                (tmp_path / f"f{burst}-{i}").write_bytes(b"x")
            queue.wait(timeout=0.5)
            batches.extend(queue.take_due())
            if rescanned(batches):
                break
        batches += collect_until(queue, lambda b: rescanned(batches + b))
        assert any("inotify queue overflow" in b.reason for b in batches if b.paths is None)
    finally:
        watcher.stop()


class LimitReachedObserver(InotifyObserver):
    """The narrowest seam for ENOSPC: the kernel limit cannot be lowered for one test, so the
    observer's schedule() fails the way watchdog's InotifyFD._raise_error does."""

    def schedule(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def test_watch_limit_falls_back_to_polling_and_names_the_sysctl(
    tmp_path: Path, queue: ChangeQueue
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    watcher = Watcher(queue, poll_interval_default=0.05, root_check_interval=0.05,
                      observer_factory=LimitReachedObserver)
    current = inotify_limits.max_user_watches()
    try:
        watcher.add("docs", tmp_path)
        with structlog.testing.capture_logs() as logs:
            watcher.start()
        fw = watcher.folders()["docs"]
        assert fw.mode == "poll"
        assert "fs.inotify.max_user_watches" in fw.reason
        [error] = [e for e in logs if e["event"] == "watch.limit_reached"]
        assert error["log_level"] == "error"
        assert error["directories"] == 3
        if current is not None:
            assert f"sudo sysctl fs.inotify.max_user_watches={current + 6}" in error["advice"]
            assert "/etc/sysctl.d/" in error["advice"]
        (tmp_path / "a" / "b" / "new.txt").write_text("n")  # polled, not blind
        assert "a/b/new.txt" in hinted(collect_until(queue, lambda b: bool(hinted(b))))
    finally:
        watcher.stop()


def test_tree_larger_than_the_remaining_watches_is_polled_up_front(
    tmp_path: Path, queue: ChangeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # watchdog silently skips subdirectories that hit ENOSPC, so the watcher counts first.
    monkeypatch.setattr(inotify_limits, "max_user_watches", lambda: 2)
    monkeypatch.setattr(inotify_limits, "watches_in_use", lambda: 0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    watcher = Watcher(queue, poll_interval_default=3600)
    try:
        watcher.add("docs", tmp_path)
        watcher.start()
        fw = watcher.folders()["docs"]
        assert fw.mode == "poll"
        assert "sudo sysctl fs.inotify.max_user_watches=8" in fw.reason
    finally:
        watcher.stop()


def test_poll_mode_detects_new_changed_removed(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    (tmp_path / "edit.txt").write_text("1")
    (tmp_path / "gone.txt").write_text("g")
    fw = watcher.add("share", tmp_path, mode="poll")
    assert (fw.mode, fw.poll_interval) == ("poll", 0.05)
    watcher.start()
    (tmp_path / "edit.txt").write_text("changed")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "new.txt").write_text("n")
    want = {"edit.txt", "gone.txt", "new.txt"}
    assert want <= hinted(collect_until(queue, lambda b: want <= hinted(b)))


def test_auto_mode_polls_a_network_filesystem(tmp_path: Path) -> None:
    mountinfo = (f"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
                 f"2 1 0:50 / {tmp_path} rw - cifs //nas/share rw\n")
    mode, reason, fstype = choose_mode(tmp_path / "x", "auto", mountinfo)
    assert (mode, fstype) == ("poll", "cifs")
    assert "network filesystem" in reason
    assert choose_mode(tmp_path, "inotify", mountinfo)[0] == "inotify"
    queue = ChangeQueue()
    w = Watcher(queue, mountinfo=lambda: mountinfo)
    assert w.add("share", tmp_path).mode == "poll"


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_removed_root_is_reported_and_rearmed_when_it_returns(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue, mode: str
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    watcher.add("share", root, mode="inotify" if mode == "inotify" else "poll")
    watcher.start()
    shutil.rmtree(root)
    deadline = time.monotonic() + WAIT
    while "share" not in queue.unavailable() and time.monotonic() < deadline:
        queue.wait(timeout=0.2)
    assert [(s.key, s.available) for s in queue.take_status()] == [("share", False)]
    assert queue.take_due() == []  # no work for a missing folder

    root.mkdir()
    batches = collect_until(queue, rescanned)  # "folder is back" brings a whole rescan
    assert [b.reason for b in batches if b.paths is None] == ["folder is back"]
    assert [(s.key, s.available) for s in queue.take_status()] == [("share", True)]
    (root / "after.txt").write_text("a")  # the watch is armed again
    assert "after.txt" in hinted(collect_until(queue, lambda b: "after.txt" in hinted(b)))


def test_root_missing_at_start_is_unavailable_not_an_error(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    watcher.add("later", tmp_path / "later")
    watcher.start()
    assert "later" in queue.unavailable()
    (tmp_path / "later").mkdir()
    assert rescanned(collect_until(queue, rescanned))


def test_removed_folder_gives_no_more_hints(
    tmp_path: Path, watcher: Watcher, queue: ChangeQueue
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    watcher.add("a", tmp_path / "a")
    watcher.start()
    watcher.remove("a")
    assert watcher.folders() == {}
    watcher.add("b", tmp_path / "b")
    (tmp_path / "a" / "x.txt").write_text("x")  # before b's write: would arrive first
    (tmp_path / "b" / "y.txt").write_text("y")
    batches = collect_until(queue, lambda b: "y.txt" in hinted(b))
    assert {b.key for b in batches} == {"b"}
    with pytest.raises(ValueError, match="already watched"):
        watcher.add("b", tmp_path)
