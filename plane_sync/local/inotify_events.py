"""What watchdog's inotify observer tells us, turned into hints (see :mod:`plane_sync.local.watch`
for what it does not tell, and how that is covered)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import watchdog.events
from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from plane_sync.local.batching import ChangeSink

OVERFLOW_LOGGER = "watchdog.observers.inotify_c"

# Reads (open, close-nowrite) are left out of the mask: our own hashing would wake us up.
# Attribute changes are in: a chmod that makes an unreadable file readable changes nothing
# else (watchdog 7 reports IN_ATTRIB as FileAttribEvent; older versions as a modification).
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, FileDeletedEvent,
    DirMovedEvent, DirDeletedEvent,
    *([watchdog.events.FileAttribEvent] if hasattr(watchdog.events, "FileAttribEvent") else []),
]


class HintHandler(FileSystemEventHandler):
    """Runs on watchdog's dispatcher thread: translate an event into hints, nothing more."""

    def __init__(self, key: str, root: Path, sink: ChangeSink,
                 on_root_gone: Callable[[str], None]) -> None:
        self._key = key
        self._root = os.fspath(root)
        self._sink = sink
        self._on_root_gone = on_root_gone

    def _rel(self, path: bytes | str) -> str | None:
        text = os.fsdecode(path)
        if text.startswith(self._root + "/"):
            return text[len(self._root) + 1:]
        return None

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if os.fsdecode(event.src_path) == self._root:
                self._on_root_gone(self._key)
            elif isinstance(event, DirDeletedEvent | DirMovedEvent):
                # Files of a directory moved out of the tree get no event of their own.
                self._sink.rescan(self._key, "directory removed or moved")
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            rel = self._rel(path) if path else None
            if rel is not None:
                self._sink.hint(self._key, rel)


class OverflowDetector(logging.Handler):
    """Catches watchdog's overflow warning, the only sign that events were dropped."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()


def silence_rewatch_warning() -> None:
    """watchdog 7.1 warns (RuntimeWarning, from its inotify thread) when a directory created
    with its parents gets its watch added twice: once by the walk of the new parent, once by its
    own IN_CREATE. It is harmless bookkeeping, but under ``-W error`` (our tests) the warning
    kills watchdog's reader thread and the watcher goes blind, so it is ignored here. Called at
    start(), so the filter sits in front of any ``error`` filter installed earlier."""
    warnings.filterwarnings("ignore", message=r"Callback with id .* already exists",
                            category=RuntimeWarning)
