"""Client-side pacing for the Plane API: one limiter per API key, shared by every caller.

Plane limits each key to N requests per sliding window across all v1 routes: 60 a minute by
default, whatever its admin set in ``API_KEY_RATE_LIMIT``. The limiter learns N and the window
from the server's own answers (:mod:`plane_sync.remote.rate_learning`) and paces to them; until
the first answer it assumes Plane's default. The configured ``rate_limit`` is an optional
*ceiling* on top (to leave part of a shared key to other tools): pacing keeps to both, and a
server that sends no rate-limit headers at all is paced at the ceiling alone.

Four inputs decide when the next request may leave:

1. A local sliding window per limit (the server's, the ceiling). A slot is counted from the
   moment the request is *sent* and freed one window after its answer *arrived*, so the local
   window frees slots no earlier than the server's (the server stamps the request in between);
   see :mod:`plane_sync.remote.rate_window`.
2. The server's ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``. When the server has fewer
   requests left than the local window thinks (another process or machine uses the same key),
   the requests send one after another, evenly spaced so that what is left, less a reserve
   of a tenth of the limit, lasts until the reset; with no more than the reserve left, the
   next one waits for the reset. Two processes on one key, each pacing so, settle with a
   third of the budget left and get no 429 (tests/remote/test_ratelimit_follows.py). The
   reset is a Unix time on the *server's* clock: the clock difference is measured from each
   answer's ``Date`` header and taken off, and the time to reset is capped at the window (a
   server an hour ahead once made this a 406 s gap); Plane's reset is always "now + window",
   an upper bound.
3. ``Retry-After`` on a 429 holds every caller until it has passed, and it replaces any
   pacing guessed from the headers, shorter or longer: it is the server's own answer.
4. The learned limit itself, which only ever errs low (see rate_learning).

An upload costs two requests, create and complete, with the storage POST in between; with
several upload workers sharing a tight window, every worker's create could take a slot and
leave each complete waiting a whole window, the uploads half done meanwhile. So a create
*reserves* the slot of its complete (:class:`Reservation`): it goes only when the window has
room for both (besides the completes reserved before), and the complete then takes its
reserved slot. One worker or many, an upload begun is finished first.

The limiter never sleeps while holding its lock, so many threads can wait at once.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Callable

import structlog

from plane_sync.remote.rate_learning import LearnedLimit, Limit
from plane_sync.remote.rate_window import Slot, SlotLog

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = (60, 60.0)  # Plane's API_KEY_RATE_LIMIT default: assumed until learned
SKEW_NOTE = 5.0  # a clock difference worth a log line (the Date header has 1 s resolution)
LEARN_EVERY = 0.5  # seconds between two counts of our own requests for the limit's bound


class Permit:
    """What :meth:`RateLimiter.acquire` hands out; give it back with :meth:`RateLimiter.release`."""

    __slots__ = ("_slot",)

    def __init__(self, slot: Slot) -> None:
        self._slot = slot


class Reservation:
    """The slot of a request promised to follow another (an upload's complete, or the delete
    that abandons it). Make one per upload with :meth:`RateLimiter.reservation`, pass it to
    the create (``reserve``) and to the follow-up (``claim``), and :meth:`release` it at the
    end whatever happened: a reservation never claimed would shrink the window for good."""

    __slots__ = ("_limiter", "held")

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self.held = False

    def release(self) -> None:
        self._limiter._unreserve(self)


class RateLimiter:
    """Thread-safe pacing for one API key (see the module docstring).

    ``max_requests`` per ``window`` seconds is the ceiling (``rate_limit``); None: none.
    """

    def __init__(self, max_requests: int | None = None, window: float | None = None,
                 *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._log = SlotLog()
        self._learned = LearnedLimit()
        self._learned_at = -LEARN_EVERY  # when our own requests were last counted for it
        self._said: tuple[int, float] | None = None  # the learned limit last logged
        self._not_before = 0.0  # monotonic time before which nothing may be sent
        self._gap = 0.0  # seconds between two sends while others use the key (headers)
        self._reserved = 0  # slots promised to follow-up requests (Reservation)
        self._last_sent = float("-inf")
        self.skew = 0.0  # server clock minus ours, from the Date header; 0 until measured
        self._skew_noted = False
        self.ceiling: Limit | None = None
        self.configure(max_requests, window)

    def configure(self, max_requests: int | None, window: float | None = None) -> None:
        """Set the ceiling (``rate_limit``); ``max_requests`` None removes it."""
        if max_requests is None:
            ceiling = None
        else:
            if window is None or max_requests < 1 or window <= 0:
                raise ValueError("a rate limit needs at least 1 request per positive window")
            ceiling = Limit(max_requests, float(window), "configured")
        with self._lock:
            self.ceiling = ceiling

    def __repr__(self) -> str:
        limit = self.limit
        return f"RateLimiter({limit.requests} per {limit.window:g}s, {limit.source})"

    # -- what pacing keeps to ---------------------------------------------------------------

    def _server_limit(self) -> Limit | None:
        """The server's limit as learned; Plane's default until then, or nothing (the
        ceiling alone) when a ceiling is configured."""
        learned = self._learned
        if learned.requests is not None:
            window = learned.window or (self.ceiling.window if self.ceiling
                                        else DEFAULT_LIMIT[1])
            return Limit(learned.requests, window, "server")
        if self.ceiling is not None:
            return None
        return Limit(*DEFAULT_LIMIT, "assumed")

    def _limits(self) -> list[Limit]:
        return [lim for lim in (self._server_limit(), self.ceiling) if lim is not None]

    @property
    def limit(self) -> Limit:
        """The tightest limit paced to (fewest requests a second)."""
        with self._lock:
            return min(self._limits(), key=lambda lim: lim.per_second)

    @property
    def learned(self) -> Limit | None:
        """The server's limit as learned from its answers; None until one said."""
        with self._lock:
            limit = self._server_limit()
            return limit if limit is not None and limit.source == "server" else None

    @property
    def max_requests(self) -> int:
        return self.limit.requests

    @property
    def window(self) -> float:
        return self.limit.window

    @property
    def per_second(self) -> float:
        """Requests a second that pacing allows in the long run."""
        return self.limit.per_second

    # -- the inputs -------------------------------------------------------------------------

    def reservation(self) -> Reservation:
        return Reservation(self)

    def acquire(self, sleep: Callable[[float], None] | None = None, *,
                reserve: Reservation | None = None,
                claim: Reservation | None = None) -> Permit:
        """Block until a request may be sent, and count it. ``sleep`` replaces the limiter's
        own for this caller (a daemon's sleep that a stop request interrupts). ``reserve``:
        wait for room for a follow-up request too, and keep it; ``claim``: this is that
        follow-up (see :class:`Reservation`)."""
        while True:
            with self._lock:
                now = self._clock()
                reserving = reserve is not None and not reserve.held
                claiming = claim is not None and claim.held
                wait = self._wait_locked(now, reserving=reserving, claiming=claiming)
                if wait <= 0:
                    if reserving:
                        assert reserve is not None
                        reserve.held = True
                        self._reserved += 1
                    if claiming:
                        assert claim is not None
                        claim.held = False
                        self._reserved -= 1
                    self._last_sent = now
                    return Permit(self._log.send(now))
            (sleep or self._sleep)(wait)

    def _unreserve(self, reservation: Reservation) -> None:
        with self._lock:
            if reservation.held:
                reservation.held = False
                self._reserved -= 1

    def release(self, permit: Permit) -> None:
        """The answer to the permitted request arrived (or it failed): start its window."""
        with self._lock:
            self._log.answer(permit._slot, self._clock())

    def observe(self, remaining: str | None, reset: str | None,
                permit: Permit | None = None, date: str | None = None) -> None:
        """Learn from, and pace ahead by, the server's X-RateLimit-Remaining /
        X-RateLimit-Reset headers, with the clock difference measured from ``date`` (its
        Date header).

        ``permit`` is the answered request's: the server counted at some moment between its
        sending and now, so local usage is counted generously over that span (every slot
        still counting when it was sent). Pacing from the headers starts only when the
        server has fewer requests left than even that allows, i.e. someone else is using
        the key.
        """
        date_at = _parse_date(date)
        if date_at is not None:
            self._measure_skew(date_at)
        try:
            left = int(remaining) if remaining is not None else None
            reset_at = float(reset) if reset is not None else None
        except ValueError:
            return
        if left is None or reset_at is None or reset_at != reset_at or left < 0:
            return
        with self._lock:
            now = self._clock()
            self._learn_locked(left, reset_at, date_at, permit, now)
            since = permit._slot.sent_at if permit is not None else now
            limits = self._limits()
            local_left = min(lim.requests - self._log.counting(since, lim.window)
                             for lim in limits)
            if left >= local_left:
                self._gap = 0.0  # the local window is the stricter view; it alone paces
                return
            server = self._server_limit() or min(limits, key=lambda lim: lim.per_second)
            server_now = self._wall_clock() + self.skew
            to_reset = min(max(0.0, reset_at - server_now), server.window)
            # Spread what is left above the reserve over the time to reset, one request after
            # another (threads waiting at once must not go at once); see the module docstring.
            reserve = max(1, server.requests // 10)
            gap = to_reset / (left - reserve + 1) if left > reserve else to_reset
            self._gap = gap
            self._not_before = max(self._not_before, now + gap)
        log.debug("ratelimit.pace", remaining=left, local_remaining=local_left,
                  gap=round(gap, 3))

    def _learn_locked(self, left: int, reset_at: float, date_at: float | None,
                      permit: Permit | None, now: float) -> None:
        learned = self._learned
        if date_at is not None:
            learned.window_seen(reset_at, date_at)
        bound = left + 1  # this request counted too
        window = learned.window
        slot = permit._slot if permit is not None else None
        if window is not None and slot is not None and slot.done_at is not None and (
                learned.requests is None or now - self._learned_at >= LEARN_EVERY):
            # Counting our own requests walks a window of them: a few times a second at most.
            self._learned_at = now
            bound += self._log.certainly_counted(slot, slot.done_at - (window - 1.0))
        learned.requests_seen(bound, now, window or DEFAULT_LIMIT[1])
        self._say_learned()

    def _say_learned(self) -> None:
        limit = self._server_limit()
        if limit is None or limit.source != "server":
            return
        now = (limit.requests, limit.window)
        if self._said is None or now[1] != self._said[1] or now[0] > 1.1 * self._said[0] \
                or now[0] < self._said[0]:
            self._said = now
            log.info("ratelimit.learned", requests=limit.requests, window=limit.window,
                     ceiling=None if self.ceiling is None else
                     f"{self.ceiling.requests}/{self.ceiling.window:g}s")

    def _measure_skew(self, server: float) -> None:
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
            self._gap = 0.0  # the server's answer replaces the guess from its headers
        log.info("ratelimit.retry_after", seconds=seconds)

    def usage(self) -> tuple[int, int, float]:
        """(requests counted in the window now, the limit, the window in seconds) of the
        tightest limit: how much of the budget is used, for ``status`` and the metrics."""
        with self._lock:
            limit = min(self._limits(), key=lambda lim: lim.per_second)
            return (self._log.counting(self._clock(), limit.window), limit.requests,
                    limit.window)

    # -- internals --------------------------------------------------------------------------

    def _wait_locked(self, now: float, *, reserving: bool = False,
                     claiming: bool = False) -> float:
        limits = self._limits()
        # Keep a second window of history: observe() looks back to when a request was sent.
        self._log.forget_before(now - 2 * max(lim.window for lim in limits))
        wait = max(self._not_before, self._last_sent + self._gap) - now
        promised = self._reserved - (1 if claiming else 0)  # slots this request may not take
        for lim in limits:
            # Room for this request, the follow-up it reserves (unless the window could
            # never hold both) and the follow-ups promised before.
            need = 1 + (1 if reserving and lim.requests > 1 else 0) + promised
            if self._log.counting(now, lim.window) + need > lim.requests:
                frees = self._log.frees_at(now, lim.window)
                # Only in-flight slots: one frees a window after it completes, so poll shortly.
                wait = max(wait, frees - now if frees is not None else 0.01, 0.001)
        return wait


def _parse_date(date: str | None) -> float | None:
    if date is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible name for a key (never log the key itself)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def limiter_for(api_key: str, ceiling: tuple[int, float] | None = None) -> RateLimiter:
    """The process-wide limiter of ``api_key``; every client of that key shares it, and
    with it what was learned of the server's limit.

    A later call with a different ceiling reconfigures the shared limiter (the newest
    configuration wins), because two ceilings for one key cannot both hold.
    """
    fingerprint = key_fingerprint(api_key)
    with _registry_lock:
        limiter = _registry.get(fingerprint)
        if limiter is None:
            limiter = RateLimiter(*(ceiling or (None, None)))
            _registry[fingerprint] = limiter
        else:
            current = limiter.ceiling
            if (None if current is None else (current.requests, current.window)) != ceiling:
                limiter.configure(*(ceiling or (None, None)))
        return limiter
