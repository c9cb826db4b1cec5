"""The limiter learns the server's limit from its headers (fake clocks; the emulator-backed
proof is test_ratelimit_follows.py)."""

from __future__ import annotations

import email.utils

import pytest

from plane_sync.remote.rate_learning import LearnedLimit, Limit
from plane_sync.remote.rate_window import SlotLog
from plane_sync.remote.ratelimit import RateLimiter
from tests.remote.test_ratelimit import FakeTime, make, send


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def served(limiter: RateLimiter, t: FakeTime, limit: int, window: int, used: int) -> None:
    """One request answered by a server allowing ``limit`` per ``window`` s, which counted
    ``used`` requests before it (ours and anybody's)."""
    permit = limiter.acquire()
    t.now += 0.01
    limiter.release(permit)
    server_now = t.wall_clock() + 0.3  # the answer's Date: a fraction into the second
    limiter.observe(str(limit - used - 1), str(int(server_now + window)), permit,
                    date=http_date(server_now))


def test_without_a_ceiling_plane_default_is_assumed_until_the_server_says() -> None:
    limiter = RateLimiter()
    assert limiter.limit == Limit(60, 60.0, "assumed")


@pytest.mark.parametrize(("limit", "window"), [(600, 6), (10, 60), (60, 60), (1000, 3600)])
def test_the_first_answer_teaches_limit_and_window(limit: int, window: int) -> None:
    limiter, t = make(None, None)
    served(limiter, t, limit, window, used=0)
    assert limiter.limit == Limit(limit, float(window), "server")


def test_a_higher_server_limit_is_used_in_full_and_no_more() -> None:
    limiter, t = make(None, None)
    served(limiter, t, 120, 6, used=0)
    start = t.now
    stamps = [send(limiter, t, latency=0.01) for _ in range(119 + 120)]
    # 119 more at once (the window holds 120), then each waits for one to leave it.
    assert stamps[118] - start < 2.0
    for i in range(len(stamps) - 120):
        assert stamps[i + 120] - stamps[i] >= 6.0


def test_a_lower_server_limit_wins_over_a_higher_ceiling() -> None:
    limiter, t = make(1000, 1.0)
    served(limiter, t, 6, 3, used=0)
    assert limiter.limit == Limit(6, 3.0, "server")


def test_a_ceiling_below_the_server_limit_is_kept() -> None:
    limiter, t = make(30, 60.0)
    served(limiter, t, 600, 60, used=0)
    assert limiter.limit == Limit(30, 60.0, "configured")
    assert limiter.usage() == (1, 30, 60.0)


def test_a_ceiling_with_a_shorter_window_holds_as_well_as_the_server_limit() -> None:
    # 300/minute allows a burst the server's 60 per 6 s would refuse: both windows hold.
    limiter, t = make(300, 60.0)
    served(limiter, t, 60, 6, used=0)
    stamps = [send(limiter, t, latency=0.01) for _ in range(400)]
    for i in range(len(stamps) - 60):
        assert stamps[i + 60] - stamps[i] >= 6.0
    for i in range(len(stamps) - 300):
        assert stamps[i + 300] - stamps[i] >= 60.0


def test_another_clients_share_never_raises_the_estimate() -> None:
    limiter, t = make(None, None)
    served(limiter, t, 60, 60, used=40)  # someone else had used 40
    assert limiter.limit.requests == 20
    for used in range(41, 50):  # they go on; our own requests are counted too
        served(limiter, t, 60, 60, used=used + (used - 41))
        assert limiter.limit.requests <= 60


def test_our_own_requests_in_the_window_are_counted_into_the_bound() -> None:
    limiter, t = make(None, None)
    served(limiter, t, 60, 60, used=0)
    for _ in range(20):  # answers without rate-limit headers (a proxy dropped them)
        send(limiter, t, latency=0.01)
    t.now += 1.0
    served(limiter, t, 60, 60, used=21)  # 38 left: the server counted ours
    assert limiter.limit.requests == 60


def test_a_429_leaves_the_estimate_and_a_lowered_limit_is_followed_in_ten_windows() -> None:
    limiter, t = make(None, None)
    served(limiter, t, 60, 60, used=0)
    limiter.block_for(5.0)  # another client took the last slot: says nothing of the limit
    assert limiter.limit.requests == 60
    t.now += 61.0
    served(limiter, t, 10, 60, used=0)  # the server's limit was lowered meanwhile
    assert limiter.limit.requests == 60  # (the server's Remaining paces meanwhile)
    t.now += 600.0
    served(limiter, t, 10, 60, used=0)
    assert limiter.limit.requests == 10


def test_no_date_header_learns_the_limit_but_not_the_window() -> None:
    limiter, t = make(None, None)
    permit = limiter.acquire()
    limiter.release(permit)
    limiter.observe("99", str(t.wall_clock() + 6), permit)
    assert limiter.limit == Limit(100, 60.0, "server")


def test_a_broken_reset_teaches_no_window() -> None:
    learned = LearnedLimit()
    learned.window_seen(reset_at=5e9, date_at=1.7e9)  # a century away
    learned.window_seen(reset_at=1.7e9 - 5, date_at=1.7e9)  # in the past
    assert learned.window is None
    learned.window_seen(reset_at=1.7e9 + 2, date_at=1.7e9 - 0.0)
    learned.window_seen(reset_at=1.7e9 + 2, date_at=1.7e9 + 1)  # Date in the next second
    assert learned.window == 2.0


def test_slot_log_counts_by_answer_time() -> None:
    log = SlotLog()
    slots = [log.send(float(n)) for n in range(5)]
    assert log.counting(10.0, 5.0) == 5  # all in flight
    for n, slot in enumerate(slots):
        log.answer(slot, float(n) + 0.5)
    log.answer(slots[0], 99.0)  # a second release counts once
    assert log.counting(5.0, 5.0) == 5 and log.counting(6.0, 5.0) == 4
    assert log.frees_at(6.0, 5.0) == pytest.approx(6.5)
    assert log.certainly_counted(slots[3], after=0.6) == 2  # sent at 1 and 2, answered
    log.forget_before(3.0)
    assert len(log) == 2


def test_slot_log_forgets_old_requests_in_bulk() -> None:
    log = SlotLog()
    for n in range(5000):
        log.answer(log.send(float(n)), float(n))
    log.forget_before(4990.0)
    assert len(log) == 10 and log.counting(5000.0, 100.0) == 10
