"""The I/O watchdog: a filesystem section without a beat for longer than the folder's timeout
makes the folder "not responding" (once), and "responding" again once it returns. A blocked
call is played by a thread waiting on an Event inside a section; the e2e_share suite stops a
real file server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from plane_sync.local import iowatch
from plane_sync.local.batching import ChangeQueue
from plane_sync.local.iowatch import FolderNotResponding, IOWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hung(clock: Clock) -> Iterator[tuple[IOWatch, threading.Event, threading.Thread]]:
    watch = IOWatch(clock=clock)
    io = watch.folder("share", timeout=30.0)
    release = threading.Event()
    inside = threading.Event()
    outcome: list[BaseException] = []

    def blocked_call() -> None:
        with iowatch.using(io):
            try:
                with iowatch.fs_section("poll"):
                    inside.set()
                    release.wait(30)
                    iowatch.beat()
            except BaseException as exc:
                outcome.append(exc)

    thread = threading.Thread(target=blocked_call, daemon=True)
    thread.start()
    assert inside.wait(10)
    yield watch, release, thread
    release.set()
    thread.join(10)


def test_a_call_that_does_not_return_is_reported_once_then_its_return(
        hung: tuple[IOWatch, threading.Event, threading.Thread], clock: Clock) -> None:
    watch, release, thread = hung
    queue = ChangeQueue(quiet=0)
    watch._sink = queue
    clock.now += 29
    watch.check()
    assert queue.take_status() == []
    clock.now += 2
    watch.check()
    watch.check()
    [down] = queue.take_status()
    assert (down.key, down.available, down.source) == ("share", False, "io")
    assert "has not returned for 31s" in down.reason and "(poll)" in down.reason
    assert "share" in watch.not_responding()
    release.set()
    thread.join(10)
    watch.check()
    [up] = queue.take_status()
    assert (up.available, up.source) == (True, "io")
    assert watch.not_responding() == {}


def test_an_abandoned_thread_stops_when_its_call_returns(clock: Clock) -> None:
    watch = IOWatch(clock=clock)
    io = watch.folder("share", timeout=30.0)
    release = threading.Event()
    inside = threading.Event()
    after_the_call: list[str] = []
    raised: list[BaseException] = []

    def job() -> None:
        with iowatch.using(io):
            try:
                with iowatch.fs_section("scan"):
                    inside.set()
                    release.wait(30)  # the hung stat
                    iowatch.beat()  # the next entry
                    after_the_call.append("went on")
            except FolderNotResponding as exc:
                raised.append(exc)

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    assert inside.wait(10)
    assert thread.ident is not None
    io.abandon(thread.ident)
    release.set()
    thread.join(10)
    assert after_the_call == [] and len(raised) == 1


def test_outside_a_folder_sections_and_beats_do_nothing() -> None:
    with iowatch.fs_section("scan"):
        iowatch.beat()


def test_call_with_deadline_gives_the_fallback_when_the_call_hangs() -> None:
    release = threading.Event()
    assert iowatch.call_with_deadline(lambda: release.wait(30) and "late", 0.1, "fallback") \
        == "fallback"
    release.set()
    assert iowatch.call_with_deadline(lambda: "quick", 10, "fallback") == "quick"
