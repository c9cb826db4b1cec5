"""The watcher follows mounts under a folder: a share mounted over it after start-up is the share
arriving (polled, rescanned), an unmounted one pauses the folder, a remount or another
filesystem at the same place re-arms it.

The mount table is injected (the folders are temp dirs on the local disk); the e2e_share
suite does the same with a real sshfs mount and a real daemon.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.local.batching import Batch, ChangeQueue, FolderStatus
from plane_sync.local.watch import Watcher

pytestmark = pytest.mark.timeout(90)
ROOT_ONLY = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"


class Table:
    """A mount table the test edits."""

    def __init__(self) -> None:
        self.text = ROOT_ONLY
        self.next_id = 100

    def mount(self, point: Path, fstype: str, source: str) -> None:
        self.next_id += 1
        self.text += f"{self.next_id} 1 0:{self.next_id} / {point} rw - {fstype} {source} rw\n"

    def unmount(self, point: Path) -> None:
        self.text = "".join(line + "\n" for line in self.text.splitlines()
                            if f" {point} " not in line)


@pytest.fixture
def table() -> Table:
    return Table()


@pytest.fixture
def queue() -> ChangeQueue:
    return ChangeQueue(quiet=0.01, max_wait=0.5)


@pytest.fixture
def watcher(queue: ChangeQueue, table: Table) -> Iterator[Watcher]:
    # The supervisor's own rounds are far apart: the test calls check_roots() itself.
    w = Watcher(queue, poll_interval_default=0.05, root_check_interval=3600,
                mountinfo=lambda: table.text)
    yield w
    w.stop()


def _take(queue: ChangeQueue, want: int = 1) -> tuple[list[Batch], list[FolderStatus]]:
    batches: list[Batch] = []
    statuses: list[FolderStatus] = []
    deadline = time.monotonic() + 30
    while len(batches) + len(statuses) < want and time.monotonic() < deadline:
        queue.wait(timeout=0.2)
        statuses += queue.take_status()
        batches += queue.take_due()
    return batches, statuses


def test_a_share_mounted_after_start_is_polled_and_rescanned(
        tmp_path: Path, watcher: Watcher, queue: ChangeQueue, table: Table) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    assert watcher.add("s", folder).mode == "inotify"  # ext4 at boot: the share is not there
    watcher.start()
    table.mount(folder, "fuse.sshfs", "u@host:/srv")
    watcher.check_roots()
    assert watcher.folders()["s"].mode == "poll"
    assert watcher.folders()["s"].fstype == "fuse.sshfs"
    batches, statuses = _take(queue)
    assert statuses == []  # never "no longer on its mount": the share arrived
    assert [b.paths for b in batches] == [None]
    assert "was mounted on" in batches[0].reason
    (folder / "new.txt").write_text("n")  # polled now
    batches, _ = _take(queue)
    assert any(b.paths and "new.txt" in b.paths for b in batches)


def test_a_share_mounted_over_a_parent_arrives_too(
        tmp_path: Path, watcher: Watcher, queue: ChangeQueue, table: Table) -> None:
    (tmp_path / "mnt" / "tickets").mkdir(parents=True)
    watcher.add("t", tmp_path / "mnt" / "tickets")
    watcher.start()
    table.mount(tmp_path / "mnt", "cifs", "//nas/share")
    watcher.check_roots()
    assert watcher.folders()["t"].mode == "poll"


def test_unmount_pauses_and_the_remount_resumes(
        tmp_path: Path, watcher: Watcher, queue: ChangeQueue, table: Table) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    table.mount(folder, "fuse.sshfs", "u@host:/srv")
    assert watcher.add("s", folder).mode == "poll"
    watcher.start()

    table.unmount(folder)
    watcher.check_roots()
    _, statuses = _take(queue)
    [down] = statuses
    assert (down.available, down.source) == (False, "mount")
    assert "is no longer mounted on" in down.reason and "share unmounted?" in down.reason
    watcher.check_roots()  # said once
    assert queue.take_status() == []

    table.mount(folder, "fuse.sshfs", "u@host:/srv")  # another mount id: a remount
    watcher.check_roots()
    batches, statuses = _take(queue, want=2)
    assert [(s.available, s.source) for s in statuses] == [(True, "mount")]
    assert [b.paths for b in batches] == [None]
    assert watcher.folders()["s"].mode == "poll"


def test_another_filesystem_in_place_of_the_share_is_noticed(
        tmp_path: Path, watcher: Watcher, queue: ChangeQueue, table: Table) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    table.mount(folder, "fuse.sshfs", "u@host:/srv")
    watcher.add("s", folder)
    watcher.start()
    table.unmount(folder)
    table.mount(folder, "tmpfs", "tmpfs")  # between two rounds: never seen unmounted
    watcher.check_roots()
    batches, statuses = _take(queue)
    assert statuses == []
    assert "another filesystem is mounted on" in batches[0].reason
    assert watcher.folders()["s"].mode == "inotify"
