"""How long the uploads still to do will take, for ``sync``'s progress and ``status``.

Three things bound it, and the estimate is the largest: the rate limit (two requests of the
key's budget a file, at the rate the limiter learned from the server), the bandwidth cap
(``max_upload_rate``), and, once uploads finished, the pace they kept so far with the upload
workers there are (a slow link, big files). At Plane's default limit (60 requests a minute)
1,000 files take about 33 minutes whatever the link.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from plane_sync.core.sizes import human_duration, human_size

REQUESTS_PER_UPLOAD = 2  # create + complete; the storage POST does not count against Plane
WORTH_SAYING = 60.0  # seconds: a shorter estimate is not worth a line of its own


@dataclass(frozen=True)
class Pace:
    """What bounds the uploads' speed."""

    requests_per_second: float  # the rate limit, as learned
    workers: int = 1
    bytes_per_second: float | None = None  # max_upload_rate
    files_per_second: float | None = None  # kept so far by the workers

    def seconds(self, files: int, nbytes: int) -> float:
        bounds = [files * REQUESTS_PER_UPLOAD / self.requests_per_second]
        if self.bytes_per_second:
            bounds.append(nbytes / self.bytes_per_second)
        if self.files_per_second:
            bounds.append(files / self.files_per_second)
        return max(bounds)

    def rate_text(self) -> str:
        per_minute = self.requests_per_second * 60
        return f"{per_minute:,.0f} requests/min" if per_minute >= 10 \
            else f"{per_minute:.1f} requests/min"

    def describe(self, files: int, nbytes: int) -> str:
        """ "1,000 files (12.0 MiB): about 33 min at 60 requests/min, 4 uploads at once" """
        what = f"{files:,} file{'s' if files != 1 else ''} ({human_size(nbytes)})"
        return (f"{what}: about {human_duration(self.seconds(files, nbytes))} at "
                f"{self.rate_text()}, {self.workers} upload{'s' if self.workers != 1 else ''} "
                "at once")


class UploadClock:
    """Files done since the first upload started: the pace kept so far."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started: float | None = None
        self.done = 0

    def start(self) -> None:
        if self.started is None:
            self.started = self._clock()

    def finish(self) -> None:
        self.done += 1

    def files_per_second(self) -> float | None:
        if self.started is None or self.done < 2:
            return None  # one file says little: the first waits for nothing
        elapsed = self._clock() - self.started
        return self.done / elapsed if elapsed > 0 else None
