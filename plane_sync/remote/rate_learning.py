"""What the server's own headers say about its rate limit: the window and the number of
requests in it.

Plane (Django REST framework's throttle) sends, on every allowed answer,
``X-RateLimit-Remaining`` (what is left of the key's budget, this request counted) and
``X-RateLimit-Reset`` (``int(now + window)`` on the server's clock, whatever the window
holds); its ``Date`` header is written a moment later from the same clock. Hence:

- **The window** is ``Reset - Date``: for the whole-second windows DRF knows (1 s, a minute,
  an hour, a day) exactly the window or one second less (Date may fall in the next second),
  so the largest of the last few answers is taken. A fraction of a second rounds up, which
  errs on the slow side. Without a Date header the window is not learned.
- **The limit** is at least ``Remaining + 1`` plus every request of ours the server must
  already have counted (answered before this one was sent, and sent less than a window before
  its answer, see :meth:`SlotLog.certainly_counted`). Each answer gives such a lower bound,
  exact when no other client used the key; the largest of the last ten windows (at least
  a minute) is the estimate. Other clients of the key only make a bound smaller, never
  larger, so the estimate never runs ahead of the server; a limit lowered on the server
  is followed once the larger bounds are that old (until then the server's Remaining paces,
  see :mod:`plane_sync.remote.ratelimit`).
- **A 429** says nothing about the limit itself: another client may have taken the slot.
  Its Retry-After is obeyed (the limiter's job), the estimate stays.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAX_WINDOW = 86400.0  # DRF's longest period; a larger gap is a broken header
MAX_REQUESTS = 1_000_000
WINDOW_SAMPLES = 16
MEMORY_WINDOWS, MEMORY_MIN = 10, 60.0  # how long the largest bound stands


@dataclass(frozen=True)
class Limit:
    """``requests`` per sliding ``window`` seconds, and where that came from."""

    requests: int
    window: float
    source: str  # "server" (learned), "configured" (rate_limit) or "assumed" (Plane default)

    @property
    def per_second(self) -> float:
        return self.requests / self.window


class LearnedLimit:
    """The server's limit as its answers reveal it (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: int | None = None
        self._requests_at = 0.0  # when the estimate was last set or confirmed
        self._windows: deque[float] = deque(maxlen=WINDOW_SAMPLES)

    @property
    def window(self) -> float | None:
        return max(self._windows) if self._windows else None

    def window_seen(self, reset_at: float, date_at: float) -> None:
        """An answer stamped ``date_at`` (whole seconds) said the window resets at
        ``reset_at``, both on the server's clock."""
        gap = reset_at - date_at
        if 0 <= gap <= MAX_WINDOW:
            self._windows.append(float(max(math.ceil(gap), 1)))

    def requests_seen(self, at_least: int, now: float, window: float) -> bool:
        """An answer at ``now`` showed the limit is at least ``at_least``; True if the
        estimate changed. A larger bound stands for ten windows (a minute at least)."""
        at_least = min(at_least, MAX_REQUESTS)
        if at_least < 1:
            return False
        current = self.requests
        if current is not None and at_least == current:
            self._requests_at = now
        if current is not None and at_least <= current \
                and now - self._requests_at < max(MEMORY_WINDOWS * window, MEMORY_MIN):
            return False
        self.requests, self._requests_at = at_least, now
        return at_least != current
