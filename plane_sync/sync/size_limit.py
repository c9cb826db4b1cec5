"""The server's upload size limit, asked again while it is unknown or may have changed.

Plane says its ``FILE_SIZE_LIMIT`` only through the unauthenticated ``GET /api/instances/``.
When that fails, 5 MiB (Plane's default) is assumed, and a file over it is *not* settled: it
waits, named with the limit assumed and when the server is asked again. The limit is asked
again hourly, and soon after a file is found over it (the server's limit may have been raised,
or the first answer was lost), but not more than once a minute however many files are large.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plane_sync.remote.storage import DEFAULT_FILE_SIZE_LIMIT

REFRESH_EVERY = 3600.0
MIN_INTERVAL = 60.0


class SizeLimit:
    """``fixed``: the configured limit (never asked). ``fetch``: asks the server; None when
    it could not tell."""

    def __init__(self, fetch: Callable[[], int | None] | None = None, *,
                 fixed: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._clock = clock
        self.value = fixed if fixed is not None else DEFAULT_FILE_SIZE_LIMIT
        self.known = fixed is not None or fetch is None
        self.fixed = fixed is not None
        self._asked_at: float | None = None
        self.next_refresh = self._clock()  # first use asks

    @classmethod
    def constant(cls, value: int) -> SizeLimit:
        return cls(fixed=value)

    def current(self) -> int:
        """The limit to plan with, asking the server first when that is due."""
        if not self.fixed and self._fetch is not None and self._clock() >= self.next_refresh:
            now = self._clock()
            self._asked_at = now
            answer = self._fetch()
            self.known = answer is not None
            if answer is not None:
                self.value = answer
            self.next_refresh = now + REFRESH_EVERY
        return self.value

    def found_too_large(self) -> None:
        """A file is over the limit: ask the server again soon (at most once a minute)."""
        if self.fixed or self._fetch is None:
            return
        soon = (self._asked_at or 0.0) + MIN_INTERVAL
        self.next_refresh = min(self.next_refresh, max(soon, self._clock()))
