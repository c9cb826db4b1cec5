"""What the daemon is doing, told to systemd (STATUS=) and to ``plane-sync status``.

The activity line goes to sd_notify when it changes and into the state database, rewritten at
least every ``STATUS_REFRESH`` seconds even when unchanged, so that ``status`` can tell a hung
daemon (an old timestamp) from an idle one. Lasting conditions of a folder (a share that does
not respond) are *notes* appended to whatever the daemon is doing, so that neither systemd's
status line nor ``plane-sync status`` can miss them.
"""

from __future__ import annotations

import os
import time

import structlog

from plane_sync.errors import StateError
from plane_sync.service.sdnotify import Notifier
from plane_sync.sync.state import FolderState, StateDB
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)

STATUS_REFRESH = 60.0


class Activity:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.state: StateDB | None = None  # set once the database is open
        self.current = ""  # what the daemon does
        self.line = ""  # that, with the notes: what was last told
        self._notes: dict[str, str] = {}
        self._written = 0.0

    def set(self, activity: str) -> None:
        self.current = activity
        self._tell()

    def note(self, key: str, text: str | None) -> None:
        """A lasting condition of folder ``key`` shown with every activity (None: over)."""
        if text is None:
            self._notes.pop(key, None)
        else:
            self._notes[key] = text
        self._tell()

    def _tell(self) -> None:
        line = "; ".join([self.current, *self._notes.values()])
        now = time.monotonic()
        if line == self.line and now - self._written < STATUS_REFRESH:
            return
        if line != self.line:
            self.notifier.status(line)
        self.line, self._written = line, now
        if self.state is not None:
            try:
                self.state.set_daemon_status(os.getpid(), line, time.time())
            except StateError as exc:
                log.warning("state.write_failed", error=str(exc))

    def folder_state(self, targets: list[Target], state: FolderState, reason: str) -> None:
        """Show a folder's targets as unavailable (or not responding) in ``status``,
        with the counts of their last pass."""
        if self.state is None:
            return
        for target in targets:
            try:
                self.state.set_folder_state(target.key, str(target.root), target.label,
                                            state, reason)
            except StateError as exc:
                log.warning("state.write_failed", error=str(exc))
