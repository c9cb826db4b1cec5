"""Feeding the systemd watchdog from a helper thread, only while the worker makes progress.

The worker calls :meth:`Heartbeat.touch` on every sign of life (a loop turn, a file scanned, a
chunk sent, a file done). A long upload or a Retry-After wait is not a hang, a deadlock is:
once the worker has been silent for ``stall_limit`` seconds the pings stop, one line says so,
and systemd restarts the daemon ``WatchdogSec`` later.
"""

from __future__ import annotations

import threading
import time

import structlog

from plane_sync.service.sdnotify import Notifier

log = structlog.get_logger(__name__)

STALL_LIMIT = 300.0


class Heartbeat:
    def __init__(self, notifier: Notifier, stop: threading.Event, *,
                 stall_limit: float = STALL_LIMIT) -> None:
        self.notifier = notifier
        self.stop = stop  # set: the thread ends
        self.stall_limit = stall_limit
        self._alive_at = time.monotonic()
        self._thread: threading.Thread | None = None

    def touch(self) -> None:
        """The worker is alive."""
        self._alive_at = time.monotonic()

    @property
    def alive_at(self) -> float:
        """When the worker last showed life (monotonic)."""
        return self._alive_at

    def start(self) -> None:
        """Start pinging, when systemd asked for a watchdog (else nothing to do)."""
        interval = self.notifier.watchdog_interval()
        if interval is None:
            return
        self._thread = threading.Thread(target=self._beat, args=(interval,), name="watchdog",
                                        daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _beat(self, interval: float) -> None:
        stalled = False
        while not self.stop.wait(interval):
            quiet = time.monotonic() - self._alive_at
            if quiet < self.stall_limit:
                self.notifier.watchdog()
                stalled = False
            elif not stalled:
                stalled = True
                log.error("daemon.stalled", seconds=round(quiet),
                          note="no progress; the systemd watchdog will restart the daemon")
