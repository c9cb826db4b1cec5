"""A watcher thread that dies is noticed, logged, restarted, and its folder rescanned.

Against real inotify and real pollers on temp dirs. A thread is killed the way it really died
(a wait too long for the thread primitives), or, where nothing real can reach, by a sink that
raises SystemExit in the watcher's own thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from plane_sync.local.batching import ChangeQueue, Seen
from plane_sync.local.threads import MAX_DELAY, RestartBudget, ThreadKeeper, guarded_thread
from plane_sync.local.watch import Watcher

from .test_watch import collect_until, hinted, rescanned

pytestmark = pytest.mark.timeout(90)
WAIT = 60.0


class DeadlySink(ChangeQueue):
    """A ChangeQueue whose ``hint`` kills the calling thread once, when armed."""

    def __init__(self) -> None:
        super().__init__(quiet=0.05, max_wait=1.0)
        self.armed = False

    def hint(self, key: str, rel_path: str | None, seen: Seen | None = None) -> None:
        if self.armed:
            self.armed = False
            raise SystemExit("killed by the test")
        super().hint(key, rel_path, seen)


@pytest.fixture
def sink() -> DeadlySink:
    return DeadlySink()


@pytest.fixture
def watcher(sink: DeadlySink) -> Iterator[Watcher]:
    w = Watcher(sink, poll_interval_default=0.05, root_check_interval=3600)
    yield w
    w.stop()


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not (condition() if callable(condition) else condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_poll_thread_killed_by_a_huge_wait_is_restarted_and_reported(
        tmp_path: Path, watcher: Watcher, sink: DeadlySink) -> None:
    # What "poll_interval: 200000d" did before config bounds: the wait raises OverflowError.
    watcher.add("share", tmp_path, "poll", poll_interval=200_000 * 86400.0)
    with capture_logs() as logs:
        watcher.start()
        poller = watcher._folders["share"].poller
        assert poller is not None
        wait_for(lambda: not poller.is_alive(), "the poll thread to die")
        restarts = watcher.revive()
    assert [(r.key, r.thread, r.restarts) for r in restarts] == [("share", "poll:share", 1)]
    assert restarts[0].error.startswith("OverflowError")
    assert restarts[0].root == str(tmp_path)
    events = [e["event"] for e in logs]
    assert "watch.thread_died" in events and "watch.thread_restarted" in events
    assert rescanned(collect_until(sink, rescanned))  # changes may have gone unseen
    # It dies again at once: not restarted in a loop, but after a growing delay.
    new_poller = watcher._folders["share"].poller
    assert new_poller is not None and new_poller is not poller
    wait_for(lambda: not new_poller.is_alive(), "the restarted thread to die again")
    assert watcher.revive() == []


def test_a_dead_poll_thread_is_restarted_and_sees_changes_again(
        tmp_path: Path, watcher: Watcher, sink: DeadlySink) -> None:
    watcher.add("share", tmp_path, "poll", poll_interval=0.05)
    watcher.start()
    sink.armed = True
    (tmp_path / "first.txt").write_text("1")
    poller = watcher._folders["share"].poller
    assert poller is not None
    wait_for(lambda: not poller.is_alive(), "the poll thread to die")
    assert poller.death == "SystemExit: killed by the test"
    restarts = watcher.revive()
    assert [r.error for r in restarts] == ["SystemExit: killed by the test"]
    assert rescanned(collect_until(sink, rescanned))  # first.txt went unseen: rescan
    (tmp_path / "second.txt").write_text("2")
    assert "second.txt" in hinted(collect_until(sink, lambda b: "second.txt" in hinted(b)))


# watchdog's own thread dies unguarded: the interpreter's excepthook (here pytest's) sees it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_inotify_observer_is_replaced_and_every_folder_rescanned(
        tmp_path: Path, watcher: Watcher, sink: DeadlySink) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    watcher.add("a", tmp_path / "a", "inotify")
    watcher.add("b", tmp_path / "b", "inotify")
    watcher.start()
    observer = watcher._observer
    assert observer is not None
    sink.armed = True  # the dispatcher thread delivers the next hint, and dies of it
    (tmp_path / "a" / "x.txt").write_text("x")
    wait_for(lambda: not observer.is_alive(), "the observer thread to die")
    restarts = watcher.revive()
    assert [(r.key, r.thread) for r in restarts] == [(None, "inotify")]
    assert watcher._observer is not None and watcher._observer is not observer
    batches = collect_until(sink, lambda b: {x.key for x in b if x.paths is None} >= {"a", "b"})
    assert {b.key for b in batches if b.paths is None} >= {"a", "b"}
    (tmp_path / "b" / "y.txt").write_text("y")
    assert "y.txt" in hinted(collect_until(sink, lambda b: "y.txt" in hinted(b)))


def test_the_root_supervisor_is_restarted_too(tmp_path: Path, watcher: Watcher) -> None:
    watcher.add("a", tmp_path, "inotify")
    watcher.start()
    supervisor = watcher._supervisor
    assert supervisor is not None
    watcher._poke.set()
    # Kill it where nothing real reaches: its next round raises SystemExit.
    watcher.check_roots = lambda: (_ for _ in ()).throw(SystemExit("bug"))  # type: ignore
    watcher._poke.set()
    wait_for(lambda: not supervisor.is_alive(), "the supervisor to die")
    assert [r.thread for r in watcher.revive()] == ["watch-roots"]
    assert watcher._supervisor is not None and watcher._supervisor.is_alive()


def test_a_stopped_watcher_restarts_nothing(tmp_path: Path, watcher: Watcher) -> None:
    watcher.add("a", tmp_path, "poll", poll_interval=0.05)
    watcher.start()
    watcher.stop()
    assert watcher.revive() == []


def test_restart_delays_grow_and_are_capped() -> None:
    now = [0.0]
    budget = RestartBudget(clock=lambda: now[0])
    delays = []
    for _ in range(10):
        assert budget.may_restart("t")
        budget.restarted("t")
        start = now[0]
        while not budget.may_restart("t"):
            now[0] += 1.0
        delays.append(now[0] - start)
    assert delays[:4] == [5.0, 10.0, 20.0, 40.0]
    assert max(delays) == MAX_DELAY


def test_a_guarded_thread_reports_how_it_died() -> None:
    died: list[str] = []

    def boom() -> None:
        raise OverflowError("timeout value is too large")

    thread = guarded_thread(boom, name="t", on_death=died.append)
    thread.start()
    thread.join()
    assert died == ["OverflowError: timeout value is too large"]


def test_the_keeper_leaves_living_threads_alone() -> None:
    keeper = ThreadKeeper()
    event = threading.Event()
    thread = threading.Thread(target=event.wait, daemon=True)
    thread.start()
    keeper.keep("t", alive=thread.is_alive, restart=lambda: None)
    assert keeper.revive() == []
    event.set()
    thread.join()
    restarted: list[str] = []
    keeper.keep("t", alive=thread.is_alive, restart=lambda: restarted.append("t"))
    assert [r.thread for r in keeper.revive()] == ["t"] and restarted == ["t"]
