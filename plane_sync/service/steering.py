"""What the control socket may ask of the running daemon, and how the worker hears of it.

Requests arrive on the control thread; the worker owns the folders. So a request only
changes what is safe to share (the pauses, behind their lock) or leaves a note the worker
picks up on its next loop turn (:meth:`Steering.take_rescans`), then wakes the worker. A
pause also reaches a pass already running: :class:`PassGate` is the engine's stop flag, so
the upload in flight finishes and no new one starts.

Folders are named by their path as configured; ``None`` means every folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from plane_sync.config.types import FolderConfig
from plane_sync.service.live import LiveStatus
from plane_sync.service.pauses import Pauses

log = structlog.get_logger(__name__)


class PassGate:
    """The engine's stop flag: set when the daemon stops or the folder being synced is
    paused."""

    def __init__(self, stop: threading.Event, pauses: Pauses) -> None:
        self.stop = stop
        self.pauses = pauses
        self.folder: Path | None = None  # the folder of the pass running now

    def is_set(self) -> bool:
        folder = self.folder
        return self.stop.is_set() or (folder is not None and self.pauses.is_paused(folder))

    def for_folder(self, folder: Path) -> FolderGate:
        """The stop flag of an upload of ``folder`` (queued, it may start during another
        folder's pass)."""
        return FolderGate(self.stop, self.pauses, folder)


class FolderGate:
    def __init__(self, stop: threading.Event, pauses: Pauses, folder: Path) -> None:
        self.stop, self.pauses, self.folder = stop, pauses, folder

    def is_set(self) -> bool:
        return self.stop.is_set() or self.pauses.is_paused(self.folder)


class Steering:
    def __init__(self, *, state_dir: Path, pauses: Pauses, live: LiveStatus,
                 folders: Callable[[], tuple[FolderConfig, ...]],
                 wake: Callable[[], None]) -> None:
        self.state_dir = state_dir
        self.pauses = pauses
        self.live = live
        self.folders = folders  # the current configuration's (a reload replaces it)
        self.wake = wake
        self._lock = threading.Lock()
        self._rescans: set[str] = set()  # folder keys

    # -- the worker's side ------------------------------------------------------------------

    def announce_pauses(self) -> None:
        """At start: say which pauses were kept from before (they stop every pass)."""
        state = self.pauses.snapshot()
        paused = {"every folder": state.all_since} if state.all else state.folders
        for path, since in paused.items():
            log.info("folder.paused", folder=path, since=since,
                     note="paused before this start; plane-sync resume goes on")

    def take_rescans(self) -> set[str]:
        with self._lock:
            keys, self._rescans = self._rescans, set()
        return keys

    # -- the control thread's side ----------------------------------------------------------

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "status":
            return {"ok": True, "pid": os.getpid(), "state_dir": str(self.state_dir),
                    "paused": vars(self.pauses.snapshot()), **self.live.snapshot()}
        if op not in ("pause", "resume", "rescan"):
            return {"ok": False, "error": f"unknown request {op!r}"}
        chosen = self._folders_named(request.get("folders"))
        if isinstance(chosen, str):
            return {"ok": False, "error": chosen}
        configured = {str(f.path): f for f in self.folders()}
        if op == "pause":
            changed = self.pauses.pause(chosen)
            for path in changed:
                log.info("folder.paused", folder=path if path != "*" else "every folder",
                         note="uploads stop after the one in flight; resume to go on")
        elif op == "resume":
            changed = self.pauses.resume(chosen, list(configured))
            for path in changed:
                log.info("folder.resumed", folder=path, note="rescanning it now")
            self._rescan([configured[p].key for p in changed if p in configured])
        else:
            paths = chosen if chosen is not None else list(configured)
            paused = [p for p in paths if self.pauses.is_paused(p)]
            if chosen is not None and paused:
                return {"ok": False, "error": f"paused: {', '.join(paused)}; resume it "
                                              "first (plane-sync resume FOLDER)"}
            changed = [p for p in paths if p not in paused]
            self._rescan([configured[p].key for p in changed])
            log.info("control.rescan", folders=changed)
        return {"ok": True, "changed": changed, "paused": vars(self.pauses.snapshot())}

    def _folders_named(self, names: object) -> list[str] | str | None:
        """The configured paths the request names; an error text for an unknown one."""
        if names is None:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return '"folders" is a list of paths or null'
        configured = [str(f.path) for f in self.folders()]
        unknown = [n for n in names if n not in configured]
        if unknown:
            return (f"not a configured folder: {', '.join(unknown)} (configured: "
                    f"{', '.join(configured) or 'none'})")
        return list(dict.fromkeys(names))

    def _rescan(self, keys: list[str]) -> None:
        if keys:
            with self._lock:
                self._rescans.update(keys)
            self.wake()
