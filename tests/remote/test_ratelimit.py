from __future__ import annotations

import threading
import time

import pytest

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


def make(n: int, window: float) -> tuple[RateLimiter, FakeTime]:
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


def test_server_with_fewer_remaining_spreads_them_over_the_reset_time() -> None:
    limiter, t = make(60, 60.0)
    send(limiter, t)
    # Someone else used this key: the server has 9 left where we think 59, reset in 60 s.
    limiter.observe("9", str(t.wall_clock() + 60))
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(6.0)  # 60 s / (9 + 1)


def test_server_agreeing_with_the_local_window_does_not_slow_down() -> None:
    limiter, t = make(60, 60.0)
    send(limiter, t)
    limiter.observe("59", str(t.wall_clock() + 60))
    before = t.now
    send(limiter, t)
    assert t.now == before


def test_server_with_nothing_left_waits_until_reset() -> None:
    limiter, t = make(60, 60.0)
    send(limiter, t)
    limiter.observe("0", str(t.wall_clock() + 42))
    before = t.now
    send(limiter, t)
    assert t.now - before == pytest.approx(42.0)


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
    a = limiter_for("plane_api_registry_test_key_a", 60, 60.0)
    assert limiter_for("plane_api_registry_test_key_a", 60, 60.0) is a
    assert limiter_for("plane_api_registry_test_key_b", 60, 60.0) is not a
    again = limiter_for("plane_api_registry_test_key_a", 10, 5.0)
    assert again is a and (a.max_requests, a.window) == (10, 5.0)
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
