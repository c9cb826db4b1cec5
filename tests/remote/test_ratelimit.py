from __future__ import annotations

import email.utils
import threading
import time

import pytest
from structlog.testing import capture_logs

from plane_sync.remote.ratelimit import RateLimiter, key_fingerprint, limiter_for
from plane_sync.remote.retry import RetryPolicy, parse_retry_after


class FakeTime:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall + (self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(n: int | None, window: float | None) -> tuple[RateLimiter, FakeTime]:
    t = FakeTime()
    return RateLimiter(n, window, clock=t.clock, wall_clock=t.wall_clock, sleep=t.sleep), t


def send(limiter: RateLimiter, t: FakeTime, latency: float = 0.0) -> float:
    permit = limiter.acquire()
    sent = t.now
    t.now += latency
    limiter.release(permit)
    return sent


def test_window_allows_a_burst_then_waits_for_the_oldest_answer() -> None:
    limiter, t = make(3, 10.0)
    times = [send(limiter, t, latency=0.5) for _ in range(4)]
    assert times[:3] == [1000.0, 1000.5, 1001.0]
    # The 4th waits until the 1st answer (at 1000.5) is a full window old.
    assert times[3] == pytest.approx(1010.5)


def test_every_window_of_n_plus_one_requests_spans_the_window() -> None:
    limiter, t = make(5, 2.0)
    times = [send(limiter, t, latency=0.01) for _ in range(23)]
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 2.0


def learn(limiter: RateLimiter, t: FakeTime, limit: int = 60, window: int = 60) -> None:
    """One answer from a server allowing ``limit`` per ``window`` s, nobody else on the key."""
    permit = limiter.acquire()
    limiter.release(permit)
    server_now = t.wall_clock()
    limiter.observe(str(limit - 1), str(int(server_now) + window), permit,
                    date=http_date(server_now))


def answer(limiter: RateLimiter, t: FakeTime, remaining: int, reset_in: float) -> None:
    """One more request, whose answer says ``remaining`` and a reset ``reset_in`` s away."""
    permit = limiter.acquire()
    limiter.release(permit)
    limiter.observe(str(remaining), str(t.wall_clock() + reset_in), permit)


def test_server_with_fewer_remaining_spreads_them_over_the_reset_time() -> None:
    limiter, t = make(60, 60.0)
    learn(limiter, t)
    # Someone else used this key: the server has 9 left where we think 58, reset in 60 s.
    answer(limiter, t, 9, 60)
    before = t.now
    send(limiter, t)
    # 60 s over the 3 above the reserve (a tenth of the limit) and the one sent now
    assert t.now - before == pytest.approx(15.0, abs=0.2)
    before = t.now
    send(limiter, t)  # one after another, not all at once when the wait is over
    assert t.now - before == pytest.approx(15.0, abs=0.2)


def test_server_agreeing_with_the_local_window_does_not_slow_down() -> None:
    limiter, t = make(60, 60.0)
    learn(limiter, t)
    answer(limiter, t, 58, 60)
    before = t.now
    send(limiter, t)
    assert t.now == before


@pytest.mark.parametrize("left", [0, 6])
def test_server_with_no_more_than_the_reserve_left_waits_for_the_reset(left: int) -> None:
    # Another client may take what is left at the same moment: a request now could meet a
    # 429. Plane's reset is "now + window", an upper bound of when slots free.
    limiter, t = make(60, 60.0)
    learn(limiter, t)
    answer(limiter, t, left, 42)
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(41.5, abs=0.2)  # Date said half a second on


@pytest.mark.parametrize(("remaining", "reset"), [(None, "1"), ("3", None), ("x", "1"),
                                                  ("3", "soon")])
def test_missing_or_odd_headers_are_ignored(remaining: str | None, reset: str | None) -> None:
    limiter, t = make(2, 10.0)
    limiter.observe(remaining, reset)
    before = t.now
    send(limiter, t)
    assert t.now == before


def test_retry_after_blocks_every_caller() -> None:
    limiter, t = make(60, 60.0)
    limiter.block_for(7.0)
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(7.0)


def test_registry_shares_one_limiter_per_key_and_reconfigures() -> None:
    a = limiter_for("plane_api_registry_test_key_a", (60, 60.0))
    assert limiter_for("plane_api_registry_test_key_a", (60, 60.0)) is a
    assert limiter_for("plane_api_registry_test_key_b", (60, 60.0)) is not a
    again = limiter_for("plane_api_registry_test_key_a", (10, 5.0))
    assert again is a and (a.max_requests, a.window) == (10, 5.0)
    assert limiter_for("plane_api_registry_test_key_a", None) is a
    assert a.ceiling is None and a.limit.source == "assumed"
    assert "registry_test_key" not in repr(a)
    assert "registry_test_key" not in key_fingerprint("plane_api_registry_test_key_a")


def test_threads_sharing_a_limiter_never_exceed_the_window() -> None:
    limiter = RateLimiter(4, 0.3)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            permit = limiter.acquire()
            with lock:
                stamps.append(time.monotonic())
            limiter.release(permit)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stamps.sort()
    assert len(stamps) == 12
    for i in range(len(stamps) - 4):
        assert stamps[i + 4] - stamps[i] >= 0.3 - 1e-3


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError):
        RateLimiter(60, 0)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    for n in range(1, 10):
        assert 0.0 <= policy.backoff(n) <= min(5.0, 2 ** (n - 1))
    assert policy.wait_for(3, 12.0) == 12.0
    assert parse_retry_after("53") == 53.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- the server's clock and Retry-After ------------------------------------------------------

HOUR = 3600.0


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


@pytest.mark.parametrize(("server_ahead", "with_date", "expected_gap"), [
    (0.0, True, 15.0),  # 60 s to reset over 9 - 6 (the reserve) + 1 requests
    (HOUR, True, 15.0),  # corrected by the Date header (was 3660 / 4 = 915 s)
    (HOUR, False, 15.0),  # no Date header: capped at the window instead
    (-HOUR, True, 15.0),  # a server behind: corrected (uncorrected: no pacing at all)
    (0.4, True, 15.0),  # within the Date header's resolution
])
def test_pacing_from_server_timestamps_is_corrected_for_skew_and_capped(
        server_ahead: float, with_date: bool, expected_gap: float) -> None:
    limiter, t = make(60, 60.0)
    learn(limiter, t)  # (on this machine's clock: the first answer is a second old)
    permit = limiter.acquire()
    limiter.release(permit)
    server_now = t.wall_clock() + server_ahead
    # Someone else used most of the key's budget: 9 left where we think 58.
    limiter.observe("9", str(int(server_now) + 60), permit,
                    date=http_date(server_now) if with_date else None)
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(expected_gap, abs=1.0)  # Date has 1 s resolution
    if with_date:
        assert limiter.skew == pytest.approx(server_ahead, abs=1.0)


def test_retry_after_wins_over_a_longer_guess_from_the_headers() -> None:
    limiter, t = make(60, 60.0)
    learn(limiter, t)
    answer(limiter, t, 2, 60)  # no more than the reserve: a 60 s gap
    limiter.block_for(1.0)  # a 429 elsewhere: "Retry-After: 1"
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(1.0)


def test_a_longer_retry_after_is_obeyed_too() -> None:
    limiter, t = make(60, 60.0)
    learn(limiter, t)
    answer(limiter, t, 2, 30)
    limiter.block_for(45.0)
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(45.0)


def test_clock_skew_is_logged_when_it_starts_and_when_it_ends() -> None:
    limiter, t = make(60, 60.0)
    with capture_logs() as logs:
        for ahead in (HOUR, HOUR, HOUR, 0.0, 0.0):
            limiter.observe(None, None, date=http_date(t.wall_clock() + ahead))
    events = [e["event"] for e in logs]
    assert events == ["ratelimit.clock_skew", "ratelimit.clock_skew_gone"]


@pytest.mark.parametrize("date", ["soon", "", "Mon, 99 Foo 2020 99:99:99 GMT",
                                  "Thu, 01 Jan 9999 00:00:00 GMT"])
def test_a_broken_date_header_is_ignored(date: str) -> None:
    limiter, _ = make(60, 60.0)
    limiter.observe(None, None, date=date)
    assert limiter.skew == 0.0


# -- reservations: an upload begun is finished first ------------------------------------------


def test_a_create_leaves_room_for_its_complete_before_the_next_create() -> None:
    limiter, t = make(4, 60.0)
    send(limiter, t)  # look the work item up
    send(limiter, t)  # list it
    first, second = limiter.reservation(), limiter.reservation()
    limiter.release(limiter.acquire(reserve=first))  # create #1: room for its complete too
    start = t.now
    # create #2 would take the complete's slot: it waits for the window, while the
    # complete of #1 goes at once.
    limiter.release(limiter.acquire(claim=first))
    assert t.now == start
    limiter.release(limiter.acquire(reserve=second))
    assert t.now - start == pytest.approx(60.0)
    assert not first.held and second.held
    second.release()
    second.release()  # twice changes nothing
    assert limiter._reserved == 0


def test_a_reservation_released_unclaimed_frees_its_slot() -> None:
    limiter, t = make(3, 60.0)
    aborted = limiter.reservation()
    limiter.release(limiter.acquire(reserve=aborted))  # create; then the file vanished
    aborted.release()
    start = t.now
    send(limiter, t)
    send(limiter, t)
    assert t.now == start  # both remaining slots usable


def test_a_window_of_one_request_never_waits_for_room_for_two() -> None:
    limiter, t = make(1, 5.0)
    booked = limiter.reservation()
    limiter.release(limiter.acquire(reserve=booked))
    limiter.release(limiter.acquire(claim=booked))
    assert t.now == pytest.approx(1005.0)
