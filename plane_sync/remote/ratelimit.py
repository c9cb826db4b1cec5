"""Client-side pacing for the Plane API: one limiter per API key, shared by every caller.

Plane limits each key to N requests per sliding window (60/minute by default) across all v1
routes. Three inputs decide when the next request may leave:

1. A local sliding window of the configured size. A slot is counted from the moment the
   request is *sent* and freed one window after its answer *arrived*, so the local window frees
   slots no earlier than the server's (the server stamps the request in between).
2. The server's ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``. When the server has fewer
   requests left than the local window thinks (another process or machine uses the same key,
   or the server limit is lower than configured), the remaining requests are spread evenly
   over the time to reset instead of bursting into a 429. The reset is a Unix time on the
   *server's* clock: the clock difference is measured from each answer's ``Date`` header and
   taken off, and the time to reset is capped at the window (a server an hour ahead once made
   this a 406 s gap). With nothing left, the next request goes after one even spacing
   (window / limit) rather than at the reset: Plane's reset is always "now + 60 s" whatever
   the window holds, while the 429 that the request may get says exactly when a slot frees.
3. ``Retry-After`` on a 429 holds every caller until it has passed, and it replaces any
   pacing guessed from the headers, shorter or longer: it is the server's own answer.

The limiter never sleeps while holding its lock, so many threads can wait at once.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = (60, 60.0)
SKEW_NOTE = 5.0  # a clock difference worth a log line (the Date header has 1 s resolution)


@dataclass
class _Slot:
    """One request in the local window; ``done_at`` is None while it is in flight."""

    sent_at: float
    done_at: float | None = None

    def counts_at(self, moment: float, window: float) -> bool:
        return self.done_at is None or self.done_at + window > moment


class Permit:
    """What :meth:`RateLimiter.acquire` hands out; give it back with :meth:`RateLimiter.release`."""

    __slots__ = ("_slot",)

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot


class RateLimiter:
    """Thread-safe pacing for one API key (see the module docstring)."""

    def __init__(self, max_requests: int = DEFAULT_LIMIT[0], window: float = DEFAULT_LIMIT[1],
                 *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[_Slot] = deque()
        self._not_before = 0.0  # monotonic time before which nothing may be sent
        self.skew = 0.0  # server clock minus ours, from the Date header; 0 until measured
        self._skew_noted = False
        self.configure(max_requests, window)

    def configure(self, max_requests: int, window: float) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate limit needs at least 1 request per positive window")
        with self._lock:
            self.max_requests = max_requests
            self.window = window

    def __repr__(self) -> str:
        return f"RateLimiter({self.max_requests} per {self.window:g}s)"

    # -- the three inputs -------------------------------------------------------------------

    def acquire(self, sleep: Callable[[float], None] | None = None) -> Permit:
        """Block until a request may be sent, and count it. ``sleep`` replaces the limiter's
        own for this caller (a daemon's sleep that a stop request interrupts)."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_locked(now)
                if wait <= 0:
                    slot = _Slot(sent_at=now)
                    self._slots.append(slot)
                    return Permit(slot)
            (sleep or self._sleep)(wait)

    def release(self, permit: Permit) -> None:
        """The answer to the permitted request arrived (or it failed): start its window."""
        with self._lock:
            permit._slot.done_at = self._clock()

    def observe(self, remaining: str | None, reset: str | None,
                permit: Permit | None = None, date: str | None = None) -> None:
        """Pace ahead from the server's X-RateLimit-Remaining / X-RateLimit-Reset headers,
        with the clock difference measured from ``date`` (its Date header).

        ``permit`` is the answered request's: the server counted at some moment between
        its sending and now, so local usage is counted generously over that span (every slot
        still counting when it was sent). Pacing starts only when the server has fewer
        requests left than even that allows, i.e. someone else is using the key.
        """
        if date is not None:
            self._measure_skew(date)
        try:
            left = int(remaining) if remaining is not None else None
            reset_at = float(reset) if reset is not None else None
        except ValueError:
            return
        if left is None or reset_at is None or reset_at != reset_at:
            return
        with self._lock:
            now = self._clock()
            since = permit._slot.sent_at if permit is not None else now
            used = sum(1 for slot in self._slots if slot.counts_at(since, self.window))
            local_left = self.max_requests - used
            if left >= local_left:
                return  # the local window is the stricter view; it alone paces
            server_now = self._wall_clock() + self.skew
            to_reset = min(max(0.0, reset_at - server_now), self.window)
            # Spread what is left over the time to reset; with nothing left, ask again after
            # one spacing: a 429's Retry-After then says exactly how long (module docstring).
            spacing = self.window / self.max_requests
            gap = to_reset / (left + 1) if left > 0 else min(to_reset, spacing)
            self._not_before = max(self._not_before, now + gap)
        log.debug("ratelimit.pace", remaining=left, local_remaining=local_left,
                  gap=round(gap, 3))

    def _measure_skew(self, date: str) -> None:
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        # The header drops the fraction: the server's time was somewhere in [date, date + 1).
        skew = server + 0.5 - self._wall_clock()
        if abs(skew) > 10 * 365 * 86400:
            return  # not a clock, a broken header
        with self._lock:
            self.skew = skew
            noted, self._skew_noted = self._skew_noted, abs(skew) > SKEW_NOTE
        if abs(skew) > SKEW_NOTE and not noted:
            log.warning("ratelimit.clock_skew", seconds=round(skew),
                        note="the Plane server's clock differs from this machine's; "
                             "rate-limit waits are corrected for it")
        elif noted and abs(skew) <= SKEW_NOTE:
            log.info("ratelimit.clock_skew_gone", seconds=round(skew))

    def block_for(self, seconds: float) -> None:
        """Obey a Retry-After: nobody sends anything for ``seconds``, and pacing guessed from
        the rate-limit headers gives way to it (the server knows when a slot frees)."""
        with self._lock:
            self._not_before = self._clock() + max(0.0, seconds)
        log.info("ratelimit.retry_after", seconds=seconds)

    def usage(self) -> tuple[int, int, float]:
        """(requests counted in the window now, the limit, the window in seconds): how much
        of the budget is used, for ``status`` and the metrics."""
        with self._lock:
            now = self._clock()
            used = sum(1 for slot in self._slots if slot.counts_at(now, self.window))
            return used, self.max_requests, self.window

    # -- internals --------------------------------------------------------------------------

    def _wait_locked(self, now: float) -> float:
        slots = self._slots
        # Keep a second window of history: observe() looks back to when a request was sent.
        while slots and slots[0].done_at is not None and (
                slots[0].done_at + 2 * self.window <= now):
            slots.popleft()
        wait = self._not_before - now
        counting = [slot for slot in slots if slot.counts_at(now, self.window)]
        if len(counting) >= self.max_requests:
            ends = [s.done_at + self.window for s in counting if s.done_at is not None]
            # Only in-flight slots: one frees a window after it completes, so poll shortly.
            window_wait = min(ends) - now if ends else 0.01
            wait = max(wait, window_wait, 0.001)
        return wait


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible name for a key (never log the key itself)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def limiter_for(api_key: str, max_requests: int = DEFAULT_LIMIT[0],
                window: float = DEFAULT_LIMIT[1]) -> RateLimiter:
    """The process-wide limiter of ``api_key``; every client of that key shares it.

    A later call with a different limit reconfigures the shared limiter (the newest
    configuration wins), because two limits for one key cannot both hold.
    """
    fingerprint = key_fingerprint(api_key)
    with _registry_lock:
        limiter = _registry.get(fingerprint)
        if limiter is None:
            limiter = RateLimiter(max_requests, window)
            _registry[fingerprint] = limiter
        elif (limiter.max_requests, limiter.window) != (max_requests, window):
            limiter.configure(max_requests, window)
        return limiter
