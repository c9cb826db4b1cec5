"""Run a folder's work (a pass, mapping its subfolders) where a hung share cannot hold the loop.

Not to be confused with the transfer jobs of :mod:`plane_sync.sync.transfers` (one upload
each, on the pool of upload workers); a folder job that uploads hands its files to that pool.

The main loop hands each job to a thread of its own and waits for it in short slices, so it
still answers signals and writes the status meanwhile (``while_waiting``). Jobs still run one
at a time: the rate limit, not the CPU, bounds throughput, and one writer keeps the journal
simple.

When the job's thread has been inside a filesystem call of its folder for longer than the
folder's ``io_timeout`` (see :mod:`plane_sync.local.iowatch`), the loop stops waiting: the job
is *abandoned* and :class:`FolderNotResponding` raised to the caller. The thread stays blocked
in the kernel until the server answers; then it raises at its next beat and ends, doing
nothing more. Until then the folder gets no new job (:meth:`FolderJobs.busy`), so two jobs of
one folder never run at once. On a stop request, a job stuck in a filesystem call is
abandoned at once rather than waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from plane_sync.local import iowatch
from plane_sync.local.iowatch import FolderIO, FolderNotResponding

T = TypeVar("T")

WAIT_SLICE = 0.2
STOP_GRACE = 1.0  # on stop, a job in a filesystem call this long without a beat is left
PROGRESS_WINDOW = 5.0  # a beat this recent counts as progress (for the systemd watchdog)


class FolderJobs:
    def __init__(self, stop: threading.Event, *,
                 while_waiting: Callable[[], None] = lambda: None,
                 on_progress: Callable[[], None] = lambda: None) -> None:
        self.stop = stop
        self.while_waiting = while_waiting
        self.on_progress = on_progress  # the job is making filesystem progress
        self._abandoned: dict[str, threading.Thread] = {}

    def busy(self, key: str) -> bool:
        """Whether an abandoned job of folder ``key`` is still held by the filesystem."""
        thread = self._abandoned.get(key)
        if thread is not None and not thread.is_alive():
            del self._abandoned[key]
            return False
        return thread is not None

    def stuck(self) -> list[str]:
        """Folders with an abandoned job still held by the filesystem."""
        return [key for key in list(self._abandoned) if self.busy(key)]

    def run(self, key: str, io: FolderIO | None, job: Callable[[], T]) -> T:
        """``job()`` on a thread whose filesystem calls count for ``io``; its result or its
        exception. Raises FolderNotResponding when it was abandoned."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                with iowatch.using(io):
                    box["result"] = job()
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=work, name=f"job:{key}", daemon=True)
        thread.start()
        ident = thread.ident
        assert ident is not None
        while not done.wait(WAIT_SLICE):
            self.while_waiting()
            if io is None:
                continue
            stalled = io.thread_stall(ident, time.monotonic())
            if stalled is None:
                continue
            if stalled < PROGRESS_WINDOW:
                self.on_progress()  # a long walk of a share is progress too
            if stalled >= io.timeout or (self.stop.is_set() and stalled >= STOP_GRACE):
                io.abandon(ident)
                self._abandoned[key] = thread
                raise FolderNotResponding(
                    f"a filesystem call has not returned for {stalled:.0f}s")
        if "error" in box:
            raise box["error"]
        result: T = box["result"]
        return result
