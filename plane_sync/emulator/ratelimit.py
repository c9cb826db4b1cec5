"""Per-key sliding-window limiter that answers like Plane's DRF throttle."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int = 0  # counts the current request
    reset: int = 0  # Unix time now + window (moves forward, like Plane's header)
    retry_after: int = 0  # whole seconds until the oldest request leaves the window


class SlidingWindow:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._wall_clock = wall_clock  # the server's clock: X-RateLimit-Reset is stamped by it
        self._lock = threading.Lock()
        self._history: dict[str, deque[float]] = {}

    def check(self, key: str) -> Verdict:
        """Count one request of ``key`` if allowed; a refused request is not counted."""
        with self._lock:
            now = self._clock()
            history = self._history.setdefault(key, deque())
            while history and history[0] <= now - self.window:
                history.popleft()
            if len(history) >= self.limit:
                wait = history[0] + self.window - now
                return Verdict(False, retry_after=max(1, math.ceil(wait)))
            history.append(now)
            return Verdict(
                True, remaining=self.limit - len(history),
                reset=int(self._wall_clock() + self.window),
            )
