from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from plane_sync.local.batching import Batch, ChangeQueue, FolderStatus
from plane_sync.local.settle import Settler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_burst_becomes_one_batch_after_quiet_period(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=2.0, max_wait=30.0, clock=clock)
    for i in range(50):
        q.hint("a", f"f{i}.txt")
        clock.now += 0.1
    assert q.take_due() == []  # last hint 0.1 s ago
    assert q.next_due() == pytest.approx(clock.now - 0.1 + 2.0)
    clock.now += 2.0
    [batch] = q.take_due()
    assert batch.key == "a"
    assert batch.paths == frozenset(f"f{i}.txt" for i in range(50))
    assert q.take_due() == []
    assert q.next_due() is None


def test_max_wait_bounds_a_never_quiet_folder(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=2.0, max_wait=10.0, clock=clock)
    for _ in range(10):
        q.hint("a", "log.txt")
        clock.now += 1.0
    [batch] = q.take_due()  # 10 s since the first hint, although never quiet
    assert batch.paths == frozenset({"log.txt"})


def test_folders_are_batched_separately(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=1.0, clock=clock)
    q.hint("a", "x")
    clock.now += 0.9
    q.hint("b", "y")
    clock.now += 0.2
    assert [b.key for b in q.take_due()] == ["a"]
    clock.now += 1.0
    assert [b.key for b in q.take_due()] == ["b"]


def test_more_than_cap_paths_becomes_a_rescan(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=1.0, cap=3, clock=clock)
    for name in "abcd":
        q.hint("a", name)
    clock.now += 1.0
    [batch] = q.take_due()
    assert batch.paths is None
    assert "more than 3" in batch.reason


def test_rescan_swallows_path_hints(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=1.0, clock=clock)
    q.hint("a", "x")
    q.rescan("a", "inotify queue overflow")
    q.hint("a", "y")
    q.hint("a", None)
    clock.now += 1.0
    assert q.take_due() == [Batch("a", None, "changes, inotify queue overflow, hint")]


def test_unavailable_folder_drops_work_until_it_returns(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=1.0, clock=clock)
    q.hint("a", "x")
    q.folder_unavailable("a", "root is gone")
    q.folder_unavailable("a", "root is gone")  # reported once
    q.hint("a", "y")
    clock.now += 5
    assert q.take_due() == []
    assert q.unavailable() == {"a": "root is gone"}
    q.folder_available("a")
    q.folder_available("a")  # only the first return counts
    assert q.take_status() == [
        FolderStatus("a", False, "root is gone"),
        FolderStatus("a", True, "folder is back"),
    ]
    assert q.take_status() == []
    clock.now += 1.0
    assert q.take_due() == [Batch("a", None, "folder is back")]


def test_wait_returns_when_a_hint_becomes_due() -> None:
    q = ChangeQueue(quiet=0.05)
    threading.Timer(0.05, q.hint, ("a", "x")).start()
    assert q.wait(timeout=60)
    assert [b.paths for b in q.take_due()] == [frozenset({"x"})]


def test_wait_times_out_without_work(clock: FakeClock) -> None:
    q = ChangeQueue(clock=clock)
    # The fake clock never moves, but a deadline already reached returns at once.
    assert q.wait(timeout=0) is False


def test_wake_interrupts_wait() -> None:
    q = ChangeQueue()
    threading.Timer(0.05, q.wake).start()
    assert q.wait(timeout=60) is True
    assert q.take_due() == []


# -- Settler -------------------------------------------------------------------------------


def test_settler_waits_for_a_quiet_file(tmp_path: Path, clock: FakeClock) -> None:
    s = Settler(settle=2.0, max_wait=30.0, clock=clock, trust_ctime=False)
    f = tmp_path / "a.bin"
    f.write_bytes(b"1")
    assert s.check("k", tmp_path, ["a.bin"]).changing == {"a.bin"}
    clock.now += 1.0
    with f.open("ab") as fh:
        fh.write(b"2")
    assert s.check("k", tmp_path, ["a.bin"]).changing == {"a.bin"}  # changed: clock restarts
    clock.now += 1.5
    assert s.check("k", tmp_path, ["a.bin"]).changing == {"a.bin"}
    clock.now += 0.5
    result = s.check("k", tmp_path, ["a.bin"])
    assert result.stable == {"a.bin"}
    assert result.forced == set()
    # Remembered as settled: the next look, unchanged, does not start a new wait.
    assert s.check("k", tmp_path, ["a.bin"]).stable == {"a.bin"}
    with f.open("ab") as fh:
        fh.write(b"3")
    assert s.check("k", tmp_path, ["a.bin"]).changing == {"a.bin"}  # changed again: waits


def test_settler_takes_a_file_that_never_settles_after_max_wait(clock: FakeClock) -> None:
    s = Settler(settle=2.0, max_wait=10.0, clock=clock, trust_ctime=False)
    verdicts = []
    for size in range(1, 20):
        verdicts.append(s.observe("k", "log", size, size))
        clock.now += 1.0
    assert verdicts[:10] == ["changing"] * 10
    assert verdicts[10] == "forced"


def test_settler_reports_gone_and_non_regular(tmp_path: Path, clock: FakeClock) -> None:
    s = Settler(clock=clock)
    (tmp_path / "d").mkdir()
    os.symlink("/etc/passwd", tmp_path / "l")
    result = s.check("k", tmp_path, ["missing", "d", "l"])
    assert result.gone == {"missing", "d", "l"}


def test_settler_trusts_an_old_ctime(tmp_path: Path, clock: FakeClock) -> None:
    f = tmp_path / "old.txt"
    f.write_text("x")
    ctime = f.stat().st_ctime
    trusting = Settler(settle=2.0, clock=clock, wall_clock=lambda: ctime + 3.0)
    assert trusting.check("k", tmp_path, ["old.txt"]).stable == {"old.txt"}
    fresh = Settler(settle=2.0, clock=clock, wall_clock=lambda: ctime + 1.0)
    assert fresh.check("k", tmp_path, ["old.txt"]).changing == {"old.txt"}
    distrusting = Settler(settle=2.0, clock=clock, trust_ctime=False,
                          wall_clock=lambda: ctime + 3.0)
    assert distrusting.check("k", tmp_path, ["old.txt"]).changing == {"old.txt"}


def test_settler_forget_folder(clock: FakeClock) -> None:
    s = Settler(clock=clock, trust_ctime=False)
    s.observe("a", "x", 1, 1)
    s.observe("b", "x", 1, 1)
    s.forget("a")
    assert s.tracked() == 1


def test_settler_retain_forgets_all_but_the_still_changing(clock: FakeClock) -> None:
    s = Settler(settle=2.0, clock=clock, trust_ctime=False)
    for name in ("a", "b", "c"):
        s.observe("k", name, 1, 1)
    s.observe("other", "a", 1, 1)
    s.retain("k", {"b"})
    assert s.tracked() == 2  # k/b and other/a
    clock.now += 2.0
    assert s.observe("k", "b", 1, 1) == "stable"  # still remembered
    assert s.observe("k", "a", 1, 1) == "changing"  # forgotten: a first look again


def test_settler_two_groups_a_settle_apart_do_not_keep_each_other_waiting(
        clock: FakeClock) -> None:
    """The pass loop seen after a share came back: group A first seen at t, group B at
    t + settle/2; a pass every settle seconds. Each pass used to forget what settled, so
    the next pass saw it "for the first time" again and waited: for ever."""
    s = Settler(settle=2.0, max_wait=60.0, clock=clock, trust_ctime=False)
    passes = 0
    pending = True
    looked_at = {"a1", "a2"}
    while pending and passes < 20:
        passes += 1
        mark = s.begin("k")
        verdicts = {name: s.observe("k", name, 1, 1) for name in sorted(looked_at)}
        s.end("k", mark)
        pending = "changing" in verdicts.values()
        if passes == 1:
            clock.now += 1.0
            looked_at |= {"b1", "b2"}  # the second group joins half a settle later
        else:
            clock.now += 2.0
    assert not pending and passes <= 3


def test_settler_end_forgets_what_the_pass_did_not_look_at(clock: FakeClock) -> None:
    s = Settler(settle=2.0, clock=clock, trust_ctime=False)
    s.observe("k", "gone", 1, 1)
    s.observe("k", "kept", 1, 1)
    s.observe("other", "x", 1, 1)
    clock.now += 1.0
    mark = s.begin("k")
    s.observe("k", "kept", 1, 1)
    s.end("k", mark)
    assert s.tracked() == 2  # k/kept and other/x
    clock.now += 1.0
    assert s.observe("k", "kept", 1, 1) == "stable"


def test_settler_counts_the_wait_from_what_a_poll_saw(clock: FakeClock) -> None:
    """A poll saw the file at t; the pass comes a settle time later: one look suffices."""
    s = Settler(settle=2.0, clock=clock, trust_ctime=False)
    s.seen("k", "new.txt", 10, 5, when=clock.now)
    clock.now += 2.0
    assert s.observe("k", "new.txt", 10, 5) == "stable"
    # The pass sees it otherwise than the poll did: it is still being written.
    s.seen("k", "grow.txt", 10, 5, when=clock.now)
    clock.now += 2.0
    assert s.observe("k", "grow.txt", 20, 6) == "changing"


def test_queue_keeps_the_first_sighting_of_each_state(clock: FakeClock) -> None:
    q = ChangeQueue(quiet=1.0, clock=clock)
    q.hint("a", "x.txt", seen=(1, 1, 10.0))
    q.hint("a", "x.txt", seen=(1, 1, 20.0))  # the same state seen again: the first counts
    q.hint("a", "y.txt", seen=(1, 1, 10.0))
    q.hint("a", "y.txt", seen=(2, 2, 20.0))  # changed since: from the new sighting
    clock.now += 5
    [batch] = q.take_due()
    assert batch.seen == {"x.txt": (1, 1, 10.0), "y.txt": (2, 2, 20.0)}
