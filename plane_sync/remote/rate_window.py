"""The local record of API requests that pacing counts: sent, answered, and when.

A request counts against a sliding window of ``w`` seconds from the moment it is *sent* until
``w`` after its answer *arrived*: the server stamped it somewhere in between, so the local
count frees a slot no earlier than the server's does. Answers are recorded under the
limiter's lock with a monotonic clock, so the answered requests sit in a list already sorted
by answer time: every count is a binary search, not a walk over the window (a fast server
with the limit off makes tens of thousands of requests a minute).

Not thread-safe on its own: :class:`plane_sync.remote.ratelimit.RateLimiter` holds its lock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass


@dataclass(eq=False)
class Slot:
    """One request; ``done_at`` is None while it is in flight."""

    sent_at: float
    done_at: float | None = None


def _done_at(slot: Slot) -> float:
    assert slot.done_at is not None
    return slot.done_at


class SlotLog:
    def __init__(self) -> None:
        self.in_flight = 0
        self._done: list[Slot] = []  # answered requests, sorted by done_at
        self._head = 0  # entries before it are forgotten (compacted from time to time)

    def send(self, now: float) -> Slot:
        self.in_flight += 1
        return Slot(sent_at=now)

    def answer(self, slot: Slot, now: float) -> None:
        if slot.done_at is not None:
            return  # released twice: count it once
        slot.done_at = now
        self.in_flight -= 1
        self._done.append(slot)

    def counting(self, moment: float, window: float) -> int:
        """Requests that count against a window of ``window`` seconds at ``moment``: every
        one in flight, and each answered less than ``window`` before ``moment``."""
        first = bisect_right(self._done, moment - window, lo=self._head, key=_done_at)
        return self.in_flight + len(self._done) - first

    def frees_at(self, moment: float, window: float) -> float | None:
        """When the oldest answered request counting at ``moment`` stops counting; None when
        only requests in flight count."""
        first = bisect_right(self._done, moment - window, lo=self._head, key=_done_at)
        if first >= len(self._done):
            return None
        return _done_at(self._done[first]) + window

    def certainly_counted(self, request: Slot, after: float) -> int:
        """Answered requests the server must have counted before ``request``: answered by
        the time it was sent (so stamped earlier) and sent after ``after`` (so, with
        ``after`` one window before the latest moment ``request`` could have been stamped,
        still inside the server's window)."""
        lo = bisect_right(self._done, after, lo=self._head, key=_done_at)
        hi = bisect_right(self._done, request.sent_at, lo=lo, key=_done_at)
        return sum(1 for slot in self._done[lo:hi] if slot.sent_at > after and slot is not request)

    def forget_before(self, moment: float) -> None:
        """Drop answered requests from before ``moment``: nothing looks back that far."""
        self._head = bisect_left(self._done, moment, lo=self._head, key=_done_at)
        if self._head > 1024 and self._head * 2 > len(self._done):
            del self._done[:self._head]
            self._head = 0

    def __len__(self) -> int:
        return self.in_flight + len(self._done) - self._head
