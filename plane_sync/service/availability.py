"""A folder goes away and comes back: what the daemon does when the watcher or the I/O
watchdog says so (a :class:`~plane_sync.local.batching.FolderStatus` event).

Away (root missing, share unmounted, or its filesystem not responding): no pass runs over it
(nothing is deleted on the strength of an empty mount point), ``status`` shows its targets as
unavailable or not responding with the counts of their last pass, and a share that does not
respond is named in the activity line (systemd's STATUS= and ``plane-sync status``) until it
answers again. Back: a rescan at once.
"""

from __future__ import annotations

import time

import structlog

from plane_sync.local.batching import FolderStatus
from plane_sync.service.activity import Activity
from plane_sync.service.folders import FolderRun
from plane_sync.service.scheduler import Scheduler

log = structlog.get_logger(__name__)


def apply_status(status: FolderStatus, run: FolderRun, now: float, schedule: Scheduler,
                 activity: Activity) -> None:
    path = str(run.folder.path)
    run.available = status.available
    hung = not status.available and status.source == "io"
    activity.note(run.folder.key, f"{path} not responding since "
                  f"{time.strftime('%H:%M:%S')}" if hung else None)
    if status.available:
        log.info("sync.resumed", folder=path)
        run.next_rescan = now
        return
    log.warning("sync.paused", folder=path, reason=status.reason, cause=status.source,
                note="nothing is deleted while the folder is away")
    for key in run.targets:
        schedule.forget(key)
    activity.folder_state(list(run.targets.values()),
                          "not_responding" if hung else "unavailable", status.reason)
