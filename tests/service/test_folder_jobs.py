"""A folder's job runs on a thread the loop waits for: a job stuck in a filesystem call past
the folder's io_timeout is abandoned (the loop goes on), and the folder gets no new job until
the stuck one has ended."""

from __future__ import annotations

import threading

import pytest

from plane_sync.local import iowatch
from plane_sync.local.iowatch import FolderIO, FolderNotResponding
from plane_sync.service.folder_jobs import FolderJobs

pytestmark = pytest.mark.timeout(60)


def test_a_job_returns_its_result_or_raises_its_error() -> None:
    jobs = FolderJobs(threading.Event())
    assert jobs.run("f", FolderIO("f", 30.0), lambda: 42) == 42

    def fails() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        jobs.run("f", None, fails)


def test_a_job_stuck_in_the_filesystem_is_abandoned_and_holds_its_folder() -> None:
    release = threading.Event()
    waited: list[int] = []
    jobs = FolderJobs(threading.Event(), while_waiting=lambda: waited.append(1))
    io = FolderIO("share", timeout=0.5)

    def stuck() -> str:
        with iowatch.fs_section("scan"):
            release.wait(30)  # a stat on a stopped server
            iowatch.beat()
        return "went on"

    with pytest.raises(FolderNotResponding):
        jobs.run("share", io, stuck)
    assert waited  # the loop kept answering while it waited
    assert jobs.busy("share") and jobs.stuck() == ["share"]
    assert not jobs.busy("other")
    release.set()  # the server answers: the abandoned job ends without going on
    for _ in range(100):
        if not jobs.busy("share"):
            break
        threading.Event().wait(0.05)
    assert not jobs.busy("share")


def test_on_stop_a_job_stuck_in_the_filesystem_is_left_at_once() -> None:
    stop = threading.Event()
    release = threading.Event()
    jobs = FolderJobs(stop)
    io = FolderIO("share", timeout=3600.0)

    def stuck() -> None:
        stop.set()  # SIGTERM arrives while the share hangs
        with iowatch.fs_section("scan"):
            release.wait(30)

    try:
        with pytest.raises(FolderNotResponding):
            jobs.run("share", io, stuck)
    finally:
        release.set()


def test_a_slow_job_outside_the_filesystem_is_waited_for() -> None:
    """A long Plane request is not a hung share: no section, no abandon."""
    jobs = FolderJobs(threading.Event())
    io = FolderIO("share", timeout=0.1)
    assert jobs.run("share", io, lambda: threading.Event().wait(0.5) or "done") == "done"
