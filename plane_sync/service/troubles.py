"""What the daemon does when a folder's work fails, by kind of failure.

- Plane trouble (unreachable, 5xx or 429 after the client's retries, a storage host that keeps
  failing): every pass is held back for a backoff of 5 s doubling to 5 min
  (:class:`~plane_sync.service.scheduler.Scheduler`); the failed pass runs again after it.
- A filesystem error in a pass (an I/O error from a share that stopped answering): only that
  target waits, ``FOLDER_RETRY`` seconds; it is said once when it starts and once when a
  pass gets through again, and ``status`` shows the folder as failing meanwhile.
- A rejected API key: the run ends (:meth:`Daemon.run` raises it, the CLI exits 3).
"""

from __future__ import annotations

import os
import threading
import time

import structlog

from plane_sync.errors import AuthError, Interrupted, PlaneError, StateError, UploadError
from plane_sync.service.activity import Activity
from plane_sync.service.live import LiveStatus
from plane_sync.service.scheduler import Scheduler
from plane_sync.service.uploads import Finished
from plane_sync.sync.conditions import Conditions
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)

FOLDER_RETRY = 30.0  # seconds before a pass that a filesystem error cut short runs again


class Troubles:
    def __init__(self, schedule: Scheduler, live: LiveStatus, activity: Activity,
                 conditions: Conditions, stop: threading.Event) -> None:
        self.schedule = schedule
        self.live = live
        self.activity = activity
        self.conditions = conditions
        self.stop = stop
        self.fatal_error: AuthError | None = None

    def fatal(self, exc: AuthError) -> None:
        log.error("plane.auth_rejected", error=str(exc))
        self.fatal_error = exc
        self.stop.set()

    def plane(self, exc: Exception) -> None:
        """Plane or the storage host failed: hold every pass back for the backoff."""
        self.live.pass_failed("storage" if isinstance(exc, UploadError) else "plane")
        delay = self.schedule.trouble(time.monotonic())
        log.warning("plane.trouble", error=str(exc), retry_in=round(delay, 1))
        self.activity.set(f"waiting for Plane ({type(exc).__name__}); retry in {delay:.0f}s")

    def folder(self, target: Target, exc: OSError) -> None:
        """The folder's filesystem failed mid-pass: the daemon goes on, shows the folder as
        failing in ``status`` and tries it again later."""
        where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        reason = f"{exc.strerror or exc}{where}"
        self.live.pass_failed("folder")
        self.conditions.start(("pass_failed", target.key), "sync.pass_failed",
                              folder=str(target.root), work_item=target.label, error=reason,
                              retry_in=FOLDER_RETRY,
                              note="the folder's filesystem failed; the pass is tried again")
        self.activity.folder_state([target], "error", f"pass failed: {reason}; tried again "
                                   f"every {FOLDER_RETRY:.0f}s")
        if not self.stop.is_set():
            self.schedule.mark(target.key, time.monotonic() + FOLDER_RETRY)

    def pass_through(self, target: Target) -> None:
        """A pass over ``target`` got through: a folder failure ends, the backoff resets."""
        self.conditions.end(("pass_failed", target.key), "sync.pass_recovered",
                            folder=str(target.root), work_item=target.label)
        self.schedule.recovered()

    def background_finished(self, finished: Finished, now: float, *, mapped: bool) -> None:
        """A large upload that went on in the background ended: pass over its folder again
        (``mapped``: it is still configured; its listing shows the upload, a failure waits
        for its retry), or back off."""
        error, target = finished.error, finished.target
        if isinstance(error, AuthError):
            self.fatal(error)
        elif isinstance(error, PlaneError | UploadError | StateError):
            self.plane(error)
        elif error is not None and not isinstance(error, Interrupted):
            log.error("upload.background_failed", folder=str(target.root),
                      error=repr(error)[:300])
        if mapped:
            self.schedule.mark(target.key, now)
