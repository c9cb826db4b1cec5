"""Lasting conditions the running daemon wants ``plane-sync status`` to show.

A watcher thread that died and was restarted, a config reload that was refused: neither is a
folder's state, and the activity line is overwritten at the next turn of the loop. Each is a
note under a topic, kept in a small JSON file in the state directory (written rarely,
atomically, 0600), set when the condition starts and removed when it ends. The daemon
clears them when it starts: they describe its own run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import structlog

from plane_sync.local.threads import Restart

log = structlog.get_logger(__name__)

NOTES_FILE = "daemon-notes.json"


class Notes:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / NOTES_FILE
        self._notes: dict[str, dict[str, Any]] = {}

    def clear_all(self) -> None:
        self._notes.clear()
        self._write()

    def set(self, topic: str, message: str) -> None:
        self._notes[topic] = {"topic": topic, "message": message, "since": time.time()}
        self._write()

    def clear(self, topic: str) -> None:
        if self._notes.pop(topic, None) is not None:
            self._write()

    def record_restarts(self, restarts: list[Restart]) -> None:
        """One note per restarted thread (the latest restart of each)."""
        for r in restarts:
            what = (f"the poll thread of {r.root}" if r.key is not None
                    else f"the watcher thread {r.thread}")
            times = "once" if r.restarts == 1 else f"{r.restarts} times"
            self.set(f"thread:{r.thread}", f"{what} died ({r.error}) and was restarted "
                     f"({times} so far)")

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(list(self._notes.values()), out)
            os.replace(tmp, self.path)
        except OSError as exc:  # status loses a note; the daemon goes on
            log.warning("notes.write_failed", path=str(self.path), error=str(exc))


def read_notes(state_dir: Path) -> list[dict[str, Any]]:
    """The daemon's notes for ``status``; [] when there are none or the file is unreadable."""
    try:
        notes = json.loads((state_dir / NOTES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(notes, list):
        return []
    return [{"topic": str(n.get("topic", "")), "message": n["message"],
             "since": n["since"] if isinstance(n.get("since"), int | float) else None}
            for n in notes if isinstance(n, dict) and isinstance(n.get("message"), str)]
