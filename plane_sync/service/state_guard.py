"""Notice the state directory deleted (or replaced) under the running daemon, and recover.

Without this, a daemon whose state directory was removed goes on writing into a database
nobody can open any more, ``status`` finds nothing and says "not running", and a ``sync``
started meanwhile gets a fresh lock and runs beside the daemon. So a thread compares, every
``interval`` seconds, the lock file and the database at their paths with the ones the daemon
holds open (device and inode). When either was replaced, it takes the lock again at its path
and copies the open database there (SQLite's backup), so nothing recorded is lost. If another
process took the new lock first, the daemon runs no pass until it can take it back.
"""

from __future__ import annotations

import threading

import structlog

from plane_sync.service.runtime import (
    StateDirBusy,
    StateLock,
    ensure_state_dir,
    private_database,
)
from plane_sync.sync.state import StateDB

log = structlog.get_logger(__name__)

CHECK_INTERVAL = 2.0


class StateDirGuard:
    def __init__(self, lock: StateLock, state: StateDB, *, interval: float = CHECK_INTERVAL,
                 stop: threading.Event | None = None) -> None:
        self.lock = lock
        self.state = state
        self.interval = interval
        self._stop = stop or threading.Event()
        self.usable = True  # False while another process holds the recreated lock
        self._thread: threading.Thread | None = None
        self._check_lock = threading.Lock()

    def check(self) -> bool:
        """Recover if the state directory was lost; True when the daemon may go on."""
        with self._check_lock:
            if self.lock.still_ours() and self.state.still_linked():
                return True
            try:
                self.lock.reacquire()
            except StateDirBusy as exc:
                if self.usable:
                    log.error("state.taken", path=str(self.lock.path.parent), error=str(exc),
                              note="no pass runs until the lock can be taken back")
                self.usable = False
                return False
            private_database(ensure_state_dir(self.state.path.parent) / self.state.path.name)
            self.state.relink()
            log.warning("state.recreated", path=str(self.state.path.parent),
                        note="the state directory was deleted or replaced under the daemon; "
                             "its lock and database are back, nothing recorded was lost")
            self.usable = True
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="state-guard", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:
                log.error("state.guard_failed", error=str(exc))

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
