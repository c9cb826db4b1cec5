"""Which folders are paused: kept in ``<state_dir>/paused.json`` so a pause survives a
restart, and shared by the daemon's worker and its control thread (one lock).

A pause is of a configured folder (its path, as the config names it) or of everything
(``all``: folders added later are paused too). A paused folder is still watched; its passes
are skipped and the one running stops before its next upload. Resuming rescans the folder,
so whatever changed meanwhile is taken then.

``pause``/``resume`` without a running daemon edit the file, and the next start honours it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from plane_sync.errors import StateError

PAUSE_FILE = "paused.json"
FORMAT = 1


@dataclass
class PauseState:
    all: bool = False
    all_since: float | None = None
    folders: dict[str, float] = field(default_factory=dict)  # path -> paused since (wall)


class Pauses:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PAUSE_FILE
        self._lock = threading.Lock()
        self._state = self._load()

    def _load(self) -> PauseState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return PauseState()
        except (OSError, ValueError) as exc:
            raise PauseFileError(f"cannot read {self.path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PauseFileError(f"{self.path} is not a pause file this plane-sync knows")
        folders = data.get("folders") or {}
        return PauseState(all=bool(data.get("all")), all_since=data.get("all_since"),
                          folders={str(k): float(v) for k, v in dict(folders).items()})

    def _save(self) -> None:
        """Write then rename: a crash leaves the old file or the new one, not half."""
        s = self._state
        text = json.dumps({"format": FORMAT, "all": s.all, "all_since": s.all_since,
                           "folders": s.folders}, indent=1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(self.path)

    # -- questions --------------------------------------------------------------------------

    def is_paused(self, folder: Path | str) -> bool:
        with self._lock:
            return self._state.all or str(folder) in self._state.folders

    def since(self, folder: Path | str) -> float | None:
        with self._lock:
            s = self._state
            return s.all_since if s.all else s.folders.get(str(folder))

    def snapshot(self) -> PauseState:
        with self._lock:
            s = self._state
            return PauseState(s.all, s.all_since, dict(s.folders))

    # -- changes ----------------------------------------------------------------------------

    def pause(self, folders: list[str] | None) -> list[str]:
        """Pause ``folders`` (None: everything); returns the folders newly paused
        (``["*"]`` for everything)."""
        now = time.time()
        with self._lock:
            s = self._state
            if folders is None:
                changed = [] if s.all else ["*"]
                if not s.all:
                    s.all, s.all_since = True, now
            else:
                changed = [f for f in folders if f not in s.folders and not s.all]
                for f in changed:
                    s.folders[f] = now
            if changed:
                self._save()
            return changed

    def resume(self, folders: list[str] | None, every: list[str]) -> list[str]:
        """Resume ``folders`` (None: everything); ``every`` is every configured folder
        (resuming one folder of a pause of everything leaves the others paused). Returns
        the folders that were paused and are not any more."""
        with self._lock:
            s = self._state
            before = set(every) if s.all else set(s.folders)
            if folders is None:
                s.all, s.all_since, s.folders = False, None, {}
            else:
                if s.all:
                    s.folders = {f: s.all_since or time.time() for f in every}
                    s.all, s.all_since = False, None
                for f in folders:
                    s.folders.pop(f, None)
            after = set(s.folders)
            resumed = sorted(before - after)
            if resumed or folders is None:
                self._save()
            return resumed


class PauseFileError(StateError):
    """The pause file cannot be read (the daemon then refuses to start: a pause must not
    be lost silently)."""

    title = "Cannot read which folders are paused"
