"""The daemon's upload workers: the transfer pool, the bandwidth cap, and what the loop does
when an upload that went on in the background ends.

``upload_workers`` and ``max_upload_rate`` follow a reload: the pool grows or shrinks as its
workers finish their jobs, the cap changes at the next chunk. A large upload detached from its
pass (see :mod:`plane_sync.sync.parallel`) reports back here; the loop takes the reports
(:meth:`DaemonUploads.take_finished`) and passes over that folder again.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass

from plane_sync.config.types import Config
from plane_sync.remote.ratelimit import RateLimiter
from plane_sync.service.eta import Pace
from plane_sync.sync.bandwidth import Bandwidth
from plane_sync.sync.outcome import PassReport, StopFlag
from plane_sync.sync.parallel import Transfers
from plane_sync.sync.targets import Target
from plane_sync.sync.transfers import TransferPool


@dataclass(frozen=True)
class Finished:
    """An upload that went on in the background ended (``error``: what it raised)."""

    target: Target
    report: PassReport
    error: BaseException | None


class DaemonUploads:
    def __init__(self, config: Config, *, wake: Callable[[], None],
                 stop_for: Callable[[Target], StopFlag]) -> None:
        self.workers = config.plane.upload_workers
        self.pool = TransferPool(self.workers, name="upload")
        self.bandwidth = Bandwidth(config.plane.max_upload_rate)
        self._wake = wake
        self._finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self.transfers = Transfers(self.pool, self.bandwidth, detach_large=True,
                                   on_background_done=self._background_done,
                                   stop_for=stop_for)

    def _background_done(self, target: Target, report: PassReport,
                         error: BaseException | None) -> None:
        self._finished.put(Finished(target, report, error))  # on the worker: hand it over
        self._wake()

    def take_finished(self) -> list[Finished]:
        found = []
        while True:
            try:
                found.append(self._finished.get_nowait())
            except queue.Empty:
                return found

    def reconfigure(self, config: Config) -> None:
        self.workers = config.plane.upload_workers
        self.pool.resize(self.workers)
        self.bandwidth.set_rate(config.plane.max_upload_rate)

    def pace(self, limiter: RateLimiter) -> Pace:
        return Pace(limiter.per_second, workers=self.workers,
                    bytes_per_second=self.bandwidth.rate)

    def close(self, timeout: float) -> None:
        """Uploads not started are dropped (the next start plans them again); those running
        get ``timeout`` seconds (the journal cleans up after one cut off)."""
        self.pool.close(timeout)
