"""Watch folders for changes: inotify through watchdog locally, our own poller on network shares.

The only module that imports watchdog. What it reports are *hints* to a
:class:`~plane_sync.local.batching.ChangeSink` (normally a
:class:`~plane_sync.local.batching.ChangeQueue`): which file of which folder may have
changed, or "rescan this folder". It never decides what to upload.

What watchdog 7.1 does not tell a handler, and how it is covered here:

* inotify queue overflow: watchdog logs ``"Inotify queue overflowed; filesystem events were
  lost"`` as a WARNING on ``watchdog.observers.inotify_c``, re-adds its recursive watches and
  hands the handler nothing. A ``logging.Handler`` on that logger turns it into a rescan of
  every inotify folder (one inotify instance serves them all, so all of them lost events).
* A directory moved out of the tree gives one DirDeletedEvent, nothing for the files in it:
  any directory deletion/move is a rescan of the folder.
* Files landing in a just-created directory get a "created" but no "closed" event: every
  created/modified/moved/closed event is a hint for the settle check, not "file complete".
* ENOSPC (watch limit): raised for the root when scheduling, *silently skipped* for
  subdirectories. So the tree's directories are counted against the limit first, and either
  way the folder falls back to polling with a message naming the sysctl.
* The root deleted (or a share unmounted below a local mount point): the emitter stops. A
  supervisor thread checks every root every ``root_check_interval`` seconds, reports it
  unavailable and re-arms the watch when it is back.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import structlog
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
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.inotify import InotifyObserver

from plane_sync.local import inotify_limits, mounts
from plane_sync.local.batching import DEFAULT_CAP, ChangeSink
from plane_sync.local.poller import FolderPoller
from plane_sync.local.revival import Revival
from plane_sync.local.roots import RootProbe
from plane_sync.local.threads import Restart, ThreadKeeper, guarded_thread

log = structlog.get_logger(__name__)

Mode = Literal["inotify", "poll"]
RequestedMode = Literal["auto", "inotify", "poll"]
ObserverFactory = Callable[[], BaseObserver]

OVERFLOW_LOGGER = "watchdog.observers.inotify_c"

# Reads (open, close-nowrite) are left out of the mask: our own hashing would wake us up.
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, FileDeletedEvent,
    DirMovedEvent, DirDeletedEvent,
]


@dataclass(frozen=True)
class FolderWatch:
    """How one folder is watched, and why (for the log and ``plane-sync status``)."""

    key: str
    root: Path
    mode: Mode
    reason: str
    fstype: str = ""
    poll_interval: float | None = None  # set when mode == "poll"


def choose_mode(root: Path, requested: RequestedMode,
                mountinfo: str | None = None) -> tuple[Mode, str, str]:
    """(mode, reason, fstype) for a folder, from the filesystem under its real path."""
    try:
        fstype = mounts.filesystem_type(root, mountinfo)
    except OSError:
        fstype = "unknown"
    if requested != "auto":
        return requested, f"watch mode {requested!r} configured", fstype
    if mounts.is_network_filesystem(fstype):
        return "poll", f"{fstype} is a network filesystem: inotify cannot see remote writes", fstype
    return "inotify", f"{fstype} is a local filesystem", fstype


class _HintHandler(FileSystemEventHandler):
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


class _OverflowDetector(logging.Handler):
    """Catches watchdog's overflow warning, the only sign that events were dropped."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()


def _silence_rewatch_warning() -> None:
    """watchdog 7.1 warns (RuntimeWarning, from its inotify thread) when a directory created
    with its parents gets its watch added twice: once by the walk of the new parent, once by its
    own IN_CREATE. It is harmless bookkeeping, but under ``-W error`` (our tests) the warning
    kills watchdog's reader thread and the watcher goes blind, so it is ignored here. Called at
    start(), so the filter sits in front of any ``error`` filter installed earlier."""
    warnings.filterwarnings("ignore", message=r"Callback with id .* already exists",
                            category=RuntimeWarning)


@dataclass
class _Folder:
    watch: FolderWatch
    probe: RootProbe
    observed: ObservedWatch | None = None  # inotify: scheduled watch
    poller: FolderPoller | None = None  # poll: its thread
    unavailable: bool = False


class Watcher(Revival):
    """Owns the watchdog observer, our pollers and the root supervisor.

    ``add`` may be called before or after ``start``; ``start`` returns once every folder is
    armed (inotify watches added, poll baselines taken), so a scan begun afterwards misses
    nothing. ``observer_factory`` replaces ``InotifyObserver`` (tests inject failures there).
    """

    def __init__(self, sink: ChangeSink, *, poll_interval_default: float = 30.0,
                 root_check_interval: float = 5.0, cap: int = DEFAULT_CAP,
                 observer_factory: ObserverFactory | None = None,
                 mountinfo: Callable[[], str] | None = None) -> None:
        self._sink = sink
        self.poll_interval_default = poll_interval_default
        self.root_check_interval = root_check_interval
        self._cap = cap
        self._observer_factory: ObserverFactory = observer_factory or InotifyObserver
        self._mountinfo = mountinfo
        self._observer: BaseObserver | None = None
        self._folders: dict[str, _Folder] = {}
        self._lock = threading.RLock()
        self._started = False
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._keeper = ThreadKeeper()  # dead threads are restarted: see local.threads
        self._unreported: list[Restart] = []
        self._dead_observers: list[BaseObserver] = []
        self._overflow = _OverflowDetector(self._on_overflow)

    # -- public API --------------------------------------------------------------------

    def add(self, key: str, root: Path, mode: RequestedMode = "auto",
            poll_interval: float | None = None) -> FolderWatch:
        root = Path(os.path.abspath(root))
        chosen, reason, fstype = choose_mode(
            root, mode, self._mountinfo() if self._mountinfo else None)
        interval = poll_interval or self.poll_interval_default
        watch = FolderWatch(key, root, chosen, reason, fstype,
                            interval if chosen == "poll" else None)
        with self._lock:
            if key in self._folders:
                raise ValueError(f"folder {key!r} is already watched")
            folder = _Folder(watch, RootProbe(root))
            self._folders[key] = folder
            if self._started:
                self._arm(folder)
            return folder.watch

    def remove(self, key: str) -> None:
        with self._lock:
            folder = self._folders.pop(key, None)
            if folder is not None:
                self._disarm(folder)

    def folders(self) -> dict[str, FolderWatch]:
        with self._lock:
            return {k: f.watch for k, f in self._folders.items()}

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            _silence_rewatch_warning()
            overflow_logger = logging.getLogger(OVERFLOW_LOGGER)
            overflow_logger.addHandler(self._overflow)
            if overflow_logger.getEffectiveLevel() > logging.WARNING:
                overflow_logger.setLevel(logging.WARNING)  # else the warning is never created
            for folder in list(self._folders.values()):
                self._arm(folder)
            self._start_supervisor()

    def _start_supervisor(self) -> None:
        self._supervisor = guarded_thread(self._supervise, name="watch-roots",
                                          on_death=lambda error: None)
        self._supervisor.start()
        self._keeper.keep("watch-roots", alive=self._supervisor.is_alive,
                          restart=self._start_supervisor)

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        with self._lock:
            pollers = [f.poller for f in self._folders.values() if f.poller is not None]
            for folder in self._folders.values():
                folder.poller = None
                folder.observed = None
            observer, self._observer = self._observer, None
            self._started = False
            self._keeper = ThreadKeeper()
        # Joined outside the lock: watchdog's threads may be calling back into us.
        for poller in pollers:
            poller.stop()
        if observer is not None:
            observer.stop()
            observer.join()
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow)

    def check_roots(self) -> None:
        """One supervisor round (the thread calls it; tests may call it directly)."""
        with self._lock:
            folders = list(self._folders.values())
        for folder in folders:
            if folder.watch.mode == "inotify":
                with self._lock:
                    self._check_inotify_root(folder)

    # -- internals ---------------------------------------------------------------------

    def _arm(self, folder: _Folder) -> None:
        if folder.watch.mode == "poll":
            self._start_poller(folder)
            return
        reason = folder.probe.check()
        if reason is not None:
            self._mark_unavailable(folder, reason)
            return
        if self._schedule(folder):
            log.info("watch.armed", folder=folder.watch.key, root=str(folder.watch.root),
                     mode="inotify", reason=folder.watch.reason)

    def _schedule(self, folder: _Folder) -> bool:
        """Add the inotify watch; on the watch limit fall back to polling. True if armed."""
        root = folder.watch.root
        directories = inotify_limits.count_directories(root)
        limit = inotify_limits.max_user_watches()
        failure: OSError | None = None
        if inotify_limits.would_exceed_limit(directories, limit=limit):
            failure = OSError(errno.ENOSPC, "inotify watch limit would be exceeded")
        else:
            try:
                observer = self._ensure_observer()
                folder.observed = observer.schedule(
                    _HintHandler(folder.watch.key, root, self._sink, self._on_root_gone),
                    os.fspath(root), recursive=True, event_filter=_EVENT_FILTER)
                return True
            except OSError as exc:
                failure = exc
        if failure.errno in (errno.ENOSPC, errno.EMFILE):
            advice = inotify_limits.watch_limit_advice(root, directories, limit)
            if failure.errno == errno.EMFILE:
                advice = ("too many inotify instances (fs.inotify.max_user_instances); "
                          f"{root} is polled instead. Raise that sysctl.")
            log.error("watch.limit_reached", folder=folder.watch.key, root=str(root),
                      directories=directories, max_user_watches=limit, advice=advice)
            folder.watch = replace(folder.watch, mode="poll", reason=advice,
                                   poll_interval=self.poll_interval_default)
            self._start_poller(folder)
            return False
        self._mark_unavailable(folder, f"cannot watch the folder: {failure.strerror or failure}")
        return False

    def _ensure_observer(self) -> BaseObserver:
        if self._observer is None:
            observer = self._observer_factory()
            observer.start()  # before scheduling: a failing watch then fails alone
            self._observer = observer
            self._keeper.keep("inotify", alive=self._observer_alive,
                              restart=self._restart_observer)
        return self._observer

    def _start_poller(self, folder: _Folder) -> None:
        interval = folder.watch.poll_interval or self.poll_interval_default
        folder.poller = FolderPoller(folder.watch.key, folder.watch.root, self._sink,
                                     interval=interval, cap=self._cap, probe=folder.probe,
                                     root_check_interval=self.root_check_interval)
        log.info("watch.armed", folder=folder.watch.key, root=str(folder.watch.root),
                 mode="poll", interval=interval, reason=folder.watch.reason)
        poller = folder.poller
        self._keeper.keep(f"poll:{folder.watch.key}", alive=poller.is_alive,
                          restart=lambda: self._restart_poller(folder),
                          death=lambda: poller.death, key=folder.watch.key,
                          root=str(folder.watch.root))
        poller.start()

    def _disarm(self, folder: _Folder) -> None:
        if folder.poller is not None:
            self._keeper.forget(f"poll:{folder.watch.key}")
            folder.poller.stop()
            folder.poller = None
        if folder.observed is not None and self._observer is not None:
            with contextlib.suppress(KeyError):  # watchdog may have dropped it already
                self._observer.unschedule(folder.observed)
            folder.observed = None

    def _mark_unavailable(self, folder: _Folder, reason: str) -> None:
        if not folder.unavailable:
            folder.unavailable = True
            log.warning("folder.unavailable", folder=folder.watch.key,
                        root=str(folder.watch.root), reason=reason)
            self._sink.folder_unavailable(folder.watch.key, reason)

    def _check_inotify_root(self, folder: _Folder) -> None:
        replaced = folder.probe.replaced()
        reason = folder.probe.check()
        if reason is not None:
            if folder.observed is not None:
                self._disarm(folder)
            self._mark_unavailable(folder, reason)
            return
        if folder.unavailable:
            if self._schedule(folder) or folder.watch.mode == "poll":
                folder.unavailable = False
                log.info("folder.available", folder=folder.watch.key,
                         root=str(folder.watch.root))
                self._sink.folder_available(folder.watch.key)
        elif replaced and folder.observed is not None:
            # Deleted and re-created between two checks: the old watch sees nothing now.
            self._disarm(folder)
            if self._schedule(folder):
                self._sink.rescan(folder.watch.key, "folder root was replaced")

    def _on_root_gone(self, key: str) -> None:
        self._poke.set()  # check now rather than at the next tick

    def _on_overflow(self) -> None:
        with self._lock:
            keys = [k for k, f in self._folders.items() if f.observed is not None]
        log.warning("watch.overflow", folders=keys)
        for key in keys:
            self._sink.rescan(key, "inotify queue overflow")

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._poke.wait(self.root_check_interval)
            self._poke.clear()
            if self._stop.is_set():
                return
            try:
                self.check_roots()
                restarts = self._revive()
                with self._lock:
                    self._unreported += restarts
            except Exception:  # the supervisor must outlive any one bad folder
                log.exception("watch.supervisor_failed")
