"""What the daemon is doing, told to systemd (STATUS=) and to ``plane-sync status``.

The activity line goes to sd_notify when it changes and into the state database, rewritten at
least every ``STATUS_REFRESH`` seconds even when unchanged, so that ``status`` can tell a hung
daemon (an old timestamp) from an idle one.
"""

from __future__ import annotations

import os
import time

import structlog

from plane_sync.errors import StateError
from plane_sync.service.sdnotify import Notifier
from plane_sync.sync.state import FolderStatus, StateDB
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)

STATUS_REFRESH = 60.0


class Activity:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.state: StateDB | None = None  # set once the database is open
        self.current = ""
        self._written = 0.0

    def set(self, activity: str) -> None:
        now = time.monotonic()
        if activity == self.current and now - self._written < STATUS_REFRESH:
            return
        if activity != self.current:
            self.notifier.status(activity)
        self.current, self._written = activity, now
        if self.state is not None:
            try:
                self.state.set_daemon_status(os.getpid(), activity, time.time())
            except StateError as exc:
                log.warning("state.write_failed", error=str(exc))

    def folder_unavailable(self, targets: list[Target], reason: str) -> None:
        """Show a folder's targets as unavailable in ``status``."""
        if self.state is None:
            return
        for target in targets:
            self.state.set_folder_status(FolderStatus(
                folder_key=target.key, path=str(target.root), work_item_label=target.label,
                last_sync_at=None, files_in_sync=0, pending=0, failed=0, skipped=0,
                state="unavailable", reason=reason))
