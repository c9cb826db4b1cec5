"""The transfer pool: workers, lanes (a large job never blocks small ones), one job per key,
cancelling, resizing; and the bandwidth cap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from plane_sync.sync.bandwidth import Bandwidth
from plane_sync.sync.transfers import Ticket, TransferPool


@dataclass
class Gate:
    """A job that runs until released; it records when it started."""

    key: str
    size: int = 1
    release: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    fail: BaseException | None = None
    succeeded: bool | None = True

    def run(self) -> None:
        self.started.set()
        assert self.release.wait(10), f"{self.key} never released"
        if self.fail is not None:
            raise self.fail


def opened(pool: TransferPool) -> TransferPool:
    """The pool after a first job succeeded: every worker may take one."""
    first = Gate("first")
    first.release.set()
    assert pool.submit(first).wait(5)
    return pool


def test_one_job_at_a_time_until_one_succeeds_and_again_after_a_failure() -> None:
    pool = TransferPool(4)
    failing, waiting = Gate("fails", succeeded=False), Gate("next")
    pool.submit(failing)
    pool.submit(waiting)
    assert failing.started.wait(5)
    assert not waiting.started.wait(0.2)  # the first job has not told yet
    failing.release.set()
    assert waiting.started.wait(5)  # one at a time still: the last job failed
    third = Gate("third")
    pool.submit(third)
    assert not third.started.wait(0.2)
    waiting.release.set()  # a success: every worker from now on
    assert third.started.wait(5)
    fourth = Gate("fourth")
    pool.submit(fourth)
    assert fourth.started.wait(5)  # beside the third
    third.release.set()
    fourth.release.set()
    pool.close(5)


def test_jobs_run_on_up_to_the_workers_at_once() -> None:
    pool = opened(TransferPool(3, large=100))
    jobs = [Gate(f"j{n}") for n in range(5)]
    tickets = [pool.submit(job) for job in jobs]
    for job in jobs[:3]:
        assert job.started.wait(5)
    assert not jobs[3].started.is_set() and len(pool.queued()) == 2
    for job in jobs:
        job.release.set()
    assert all(t.wait(5) for t in tickets)
    assert all(job.started.is_set() for job in jobs)
    pool.close(5)


def test_a_small_job_never_waits_behind_large_ones() -> None:
    pool = opened(TransferPool(3, large=100))
    large = [Gate(f"big{n}", size=1000) for n in range(4)]
    for job in large:
        pool.submit(job)
    assert large[0].started.wait(5) and large[1].started.wait(5)
    assert not large[2].started.is_set()  # two of three workers at most: one stays free
    small = Gate("small")
    ticket = pool.submit(small)
    assert small.started.wait(5)  # taken by the free worker at once
    small.release.set()
    assert ticket.wait(5)
    for job in large:
        job.release.set()
    pool.close(5)


def test_one_job_per_key_and_busy_until_it_ends() -> None:
    pool = TransferPool(2)
    job = Gate("same")
    ticket = pool.submit(job)
    assert pool.busy("same")
    with pytest.raises(ValueError):
        pool.submit(Gate("same"))
    job.release.set()
    assert ticket.wait(5)
    assert not pool.busy("same")
    pool.close(5)


def test_what_a_job_raises_is_kept_and_cancel_takes_the_rest_out() -> None:
    pool = TransferPool(1)
    failing = Gate("fails", fail=RuntimeError("storage down"))
    waiting = [Gate(f"w{n}") for n in range(3)]
    ended: list[Ticket] = []
    first = pool.submit(failing, on_done=ended.append)
    rest = [pool.submit(job) for job in waiting]
    assert failing.started.wait(5)
    assert pool.cancel(rest) == rest
    failing.release.set()
    assert first.wait(5)
    assert isinstance(first.error, RuntimeError) and ended == [first]
    assert all(t.cancelled and t.done() for t in rest)
    assert not any(job.started.is_set() for job in waiting)
    pool.close(5)


def test_resize_and_close() -> None:
    pool = opened(TransferPool(1))
    jobs = [Gate(f"r{n}") for n in range(3)]
    for job in jobs:
        pool.submit(job)
    assert jobs[0].started.wait(5)
    pool.resize(3)
    assert jobs[1].started.wait(5) and jobs[2].started.wait(5)
    late = Gate("late")
    for job in jobs:
        job.release.set()
    pool.close(5)
    assert pool.submit(late).cancelled  # closed: nothing new starts


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bandwidth_cap_holds_the_rate_over_time() -> None:
    t = FakeClock()
    cap = Bandwidth(100_000, clock=t.clock, sleep=t.sleep)
    for _ in range(100):
        cap.take(64 * 1024)
    # 6,553,600 bytes at 100,000 a second, less the quarter second the bucket held
    assert t.now == pytest.approx(6_553_600 / 100_000 - 0.25, abs=0.01)


def test_no_cap_never_waits_and_a_cap_can_be_set_later() -> None:
    t = FakeClock()
    cap = Bandwidth(None, clock=t.clock, sleep=t.sleep)
    cap.take(10**9)
    assert t.now == 0.0
    cap.set_rate(1000)
    cap.take(1250)
    assert t.now == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cap.set_rate(0)
