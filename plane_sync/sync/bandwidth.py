"""``max_upload_rate``: one cap on the bytes a second sent to storage, by every upload together.

A token bucket filled at the rate and holding a quarter of a second of it: each chunk an
upload sends (64 KiB, see :mod:`plane_sync.remote.storage`) takes its bytes, and waits, with
the lock released, while the bucket is short. So a slow link is left room for other traffic,
and the uploads in flight share the rate instead of one taking it all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST = 0.25  # seconds of the rate the bucket holds


class Bandwidth:
    """``bytes_per_second`` None: no cap (until :meth:`set_rate` sets one)."""

    def __init__(self, bytes_per_second: int | None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.rate: float | None = None
        self._capacity = self._tokens = 0.0
        self._at = clock()
        self.set_rate(bytes_per_second)

    def set_rate(self, bytes_per_second: int | None) -> None:
        if bytes_per_second is not None and bytes_per_second < 1:
            raise ValueError("a bandwidth cap needs at least one byte a second")
        with self._lock:
            self.rate = None if bytes_per_second is None else float(bytes_per_second)
            self._capacity = self._tokens = (self.rate or 0.0) * BURST
            self._at = self._clock()

    def take(self, nbytes: int) -> None:
        """Count ``nbytes`` sent; wait until the rate allows them."""
        with self._lock:
            if self.rate is None:
                return
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= nbytes  # may go below zero: this caller waits it off
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
