"""Watch folders for changes: inotify through watchdog locally, our own poller on network shares.

With :mod:`plane_sync.local.inotify_events`, the only module that imports watchdog. What it
reports are *hints* to a :class:`~plane_sync.local.batching.ChangeSink` (normally a
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

Mounts come and go under a folder, and the supervisor follows them from
``/proc/self/mountinfo`` alone (it never touches a share, so a hung one cannot stop it):

* the mount that held the folder is gone (a share unmounted; its empty mount point is left):
  unavailable (``source="mount"``) until a mount holds it again;
* a filesystem mounted over the folder (or over a directory above it), e.g. a daemon started
  at boot before the share was mounted: the share has *arrived*. The watch mode is chosen
  again (polling on a network filesystem) and the folder rescanned;
* another filesystem mounted in place of the one it was on (same mount point): the same,
  and a remount of the same share simply re-arms it and makes it available again.

Filesystem calls on a folder happen on its poll thread or, for inotify folders, on the
supervisor (local disks), inside I/O watchdog sections (:mod:`plane_sync.local.iowatch`); the
one call a new folder needs on the caller's thread, resolving its real path, is given up
after ``resolve_timeout`` seconds (the lexical path is used then).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import structlog
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.inotify import InotifyObserver

from plane_sync.local import inotify_limits, iowatch, mounts
from plane_sync.local.batching import DEFAULT_CAP, ChangeSink
from plane_sync.local.filekeys import is_fuse
from plane_sync.local.inotify_events import (
    EVENT_FILTER,
    OVERFLOW_LOGGER,
    HintHandler,
    OverflowDetector,
    silence_rewatch_warning,
)
from plane_sync.local.iowatch import IOWatch
from plane_sync.local.mount_changes import mount_change
from plane_sync.local.mounts import Mount
from plane_sync.local.poller import FolderPoller
from plane_sync.local.revival import Revival
from plane_sync.local.roots import RootProbe
from plane_sync.local.threads import Restart, ThreadKeeper, guarded_thread

log = structlog.get_logger(__name__)

Mode = Literal["inotify", "poll"]
RequestedMode = Literal["auto", "inotify", "poll"]
ObserverFactory = Callable[[], BaseObserver]

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
    return (*mode_for(fstype, requested), fstype)


def mode_for(fstype: str, requested: RequestedMode) -> tuple[Mode, str]:
    """(mode, reason) for a folder on a filesystem of type ``fstype``."""
    if requested != "auto":
        return requested, f"watch mode {requested!r} configured"
    if mounts.is_network_filesystem(fstype):
        return "poll", f"{fstype} is a network filesystem: inotify cannot see remote writes"
    return "inotify", f"{fstype} is a local filesystem"


@dataclass
class _Folder:
    watch: FolderWatch
    probe: RootProbe
    requested: RequestedMode = "auto"
    configured_interval: float | None = None
    observed: ObservedWatch | None = None  # inotify: scheduled watch
    poller: FolderPoller | None = None  # poll: its thread
    unavailable: bool = False  # inotify root missing (the supervisor says so)
    unmounted: bool = False  # the mount that held it is gone


class Watcher(Revival):
    """Owns the watchdog observer, our pollers and the root supervisor.

    ``add`` may be called before or after ``start``; ``start`` returns once every folder is
    armed (inotify watches added, poll baselines taken, waiting at most ``baseline_wait``
    seconds for those: a later baseline asks for a rescan), so a scan begun afterwards misses
    nothing. ``observer_factory`` replaces ``InotifyObserver`` (tests inject failures there);
    ``mountinfo`` replaces /proc/self/mountinfo; ``io`` gives each folder's filesystem calls
    a watchdog (see :mod:`plane_sync.local.iowatch`).
    """

    def __init__(self, sink: ChangeSink, *, poll_interval_default: float = 30.0,
                 root_check_interval: float = 5.0, cap: int = DEFAULT_CAP,
                 observer_factory: ObserverFactory | None = None,
                 mountinfo: Callable[[], str] | None = None, io: IOWatch | None = None,
                 baseline_wait: float = 10.0, resolve_timeout: float = 2.0) -> None:
        self._sink = sink
        self.poll_interval_default = poll_interval_default
        self.root_check_interval = root_check_interval
        self.baseline_wait = baseline_wait
        self.resolve_timeout = resolve_timeout
        self._cap = cap
        self._observer_factory: ObserverFactory = observer_factory or InotifyObserver
        self._mountinfo = mountinfo
        self._io = io
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
        self._overflow = OverflowDetector(self._on_overflow)

    # -- public API --------------------------------------------------------------------

    def add(self, key: str, root: Path, mode: RequestedMode = "auto",
            poll_interval: float | None = None) -> FolderWatch:
        root = Path(os.path.abspath(root))
        real = self._real_path(root)
        mount = mounts.mount_holding(real, self._mount_table())
        watch = self._watch_for(key, root, mount, mode, poll_interval)
        with self._lock:
            if key in self._folders:
                raise ValueError(f"folder {key!r} is already watched")
            folder = _Folder(watch, RootProbe(root, table=self._mount_table), mode,
                             poll_interval)
            folder.probe.arm(real, mount)
            self._folders[key] = folder
            if self._started:
                self._arm(folder, defer=False)
            return folder.watch

    def remove(self, key: str) -> None:
        with self._lock:
            folder = self._folders.pop(key, None)
            if folder is not None:
                self._disarm(folder)

    def folders(self) -> dict[str, FolderWatch]:
        with self._lock:
            return {k: f.watch for k, f in self._folders.items()}

    def mode_of(self, key: str) -> Mode | None:
        with self._lock:
            folder = self._folders.get(key)
            return None if folder is None else folder.watch.mode

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            silence_rewatch_warning()
            overflow_logger = logging.getLogger(OVERFLOW_LOGGER)
            overflow_logger.addHandler(self._overflow)
            if overflow_logger.getEffectiveLevel() > logging.WARNING:
                overflow_logger.setLevel(logging.WARNING)  # else the warning is never created
            for folder in list(self._folders.values()):
                self._arm(folder, defer=True)
            pollers = [f.poller for f in self._folders.values() if f.poller is not None]
        # Every baseline is taken at once; together they may take baseline_wait at most.
        deadline = time.monotonic() + self.baseline_wait
        for poller in pollers:
            if not poller.wait_baseline(max(0.0, deadline - time.monotonic())):
                log.warning("watch.baseline_pending", folder=poller.key,
                            seconds=self.baseline_wait,
                            note="the first look at the folder goes on; a rescan follows it")
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
        # Joined outside the lock: watchdog's threads may be calling back into us. A poller
        # held by a hung share is left behind (it reports nothing once stopped).
        for poller in pollers:
            poller.stop(timeout=2.0)
        if observer is not None:
            observer.stop()
            observer.join()
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow)

    def check_roots(self) -> None:
        """One supervisor round (the thread calls it; tests may call it directly)."""
        table = self._mount_table() or None
        with self._lock:
            folders = list(self._folders.values())
        for folder in folders:
            with self._lock:
                if self._folders.get(folder.watch.key) is not folder:
                    continue  # removed meanwhile
                if table is not None:
                    self._check_mount(folder, table)
                if folder.watch.mode == "inotify" and not folder.unmounted:
                    with iowatch.using(self._folder_io(folder)), \
                            iowatch.fs_section("root check"):
                        self._check_inotify_root(folder)

    # -- internals ---------------------------------------------------------------------

    def _mount_table(self) -> list[Mount]:
        """The mount table; empty when there is none (no /proc): every folder then looks
        local and nothing is followed."""
        try:
            return mounts.read_mounts(self._mountinfo() if self._mountinfo else None)
        except OSError as exc:
            log.warning("watch.mountinfo_failed", error=str(exc))
            return []

    def _real_path(self, root: Path) -> str:
        """The root's real path, or its lexical one if the filesystem does not answer."""
        lexical = os.fspath(root)
        return iowatch.call_with_deadline(lambda: os.path.realpath(root),
                                          self.resolve_timeout, lexical)

    def _watch_for(self, key: str, root: Path, mount: Mount, requested: RequestedMode,
                   poll_interval: float | None) -> FolderWatch:
        chosen, reason = mode_for(mount.fstype, requested)
        interval = poll_interval or self.poll_interval_default
        return FolderWatch(key, root, chosen, reason, mount.fstype,
                           interval if chosen == "poll" else None)

    def _folder_io(self, folder: _Folder) -> iowatch.FolderIO | None:
        return self._io.get(folder.watch.key) if self._io is not None else None

    def _arm(self, folder: _Folder, *, defer: bool) -> None:
        """``defer``: start() waits for the poll baselines, all at once; else a baseline
        that is not there at once asks for a rescan when it is."""
        if folder.watch.mode == "poll":
            self._start_poller(folder, defer=defer)
            return
        with iowatch.using(self._folder_io(folder)), iowatch.fs_section("arming"):
            reason = folder.probe.check()
            if reason is not None:
                self._mark_unavailable(folder, reason)
                return
            if self._schedule(folder, defer=defer):
                log.info("watch.armed", folder=folder.watch.key, root=str(folder.watch.root),
                         mode="inotify", reason=folder.watch.reason)

    def _schedule(self, folder: _Folder, *, defer: bool = False) -> bool:
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
                    HintHandler(folder.watch.key, root, self._sink, self._on_root_gone),
                    os.fspath(root), recursive=True, event_filter=EVENT_FILTER)
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
            self._start_poller(folder, defer=defer)
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

    def _start_poller(self, folder: _Folder, *, defer: bool) -> None:
        interval = folder.watch.poll_interval or self.poll_interval_default
        folder.poller = FolderPoller(folder.watch.key, folder.watch.root, self._sink,
                                     interval=interval, cap=self._cap, probe=folder.probe,
                                     root_check_interval=self.root_check_interval,
                                     full=not is_fuse(folder.watch.fstype),
                                     io=self._folder_io(folder))
        log.info("watch.armed", folder=folder.watch.key, root=str(folder.watch.root),
                 mode="poll", interval=interval, reason=folder.watch.reason)
        poller = folder.poller
        self._keeper.keep(f"poll:{folder.watch.key}", alive=poller.is_alive,
                          restart=lambda: self._restart_poller(folder),
                          death=lambda: poller.death, key=folder.watch.key,
                          root=str(folder.watch.root))
        poller.start(baseline_timeout=None if defer else 0.0)

    def _disarm(self, folder: _Folder) -> None:
        if folder.poller is not None:
            self._keeper.forget(f"poll:{folder.watch.key}")
            if folder.poller.unavailable:  # its own report must not outlive it
                self._sink.folder_available(folder.watch.key)
            folder.poller.stop(timeout=1.0)
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

    def _check_mount(self, folder: _Folder, table: list[Mount]) -> None:
        """Follow the mounts under the folder (see the module docstring)."""
        expected = folder.probe.expected
        if expected is None:
            return
        change, why = mount_change(expected, folder.probe.current_mount(table),
                                   unmounted=folder.unmounted)
        if change == "rearm":
            self._rearm(folder, table, why)
        elif change == "unmounted":
            folder.unmounted = True
            self._disarm(folder)
            log.warning("folder.unmounted", folder=folder.watch.key,
                        root=str(folder.watch.root), reason=why)
            self._sink.folder_unavailable(folder.watch.key, why, source="mount")

    def _rearm(self, folder: _Folder, table: list[Mount], why: str) -> None:
        """The folder is on another filesystem now: choose the watch mode again, arm, and
        have it rescanned (or made available again if it was unmounted)."""
        key = folder.watch.key
        self._disarm(folder)
        real = self._real_path(folder.watch.root)
        mount = mounts.mount_holding(real, table)
        old_mode = folder.watch.mode
        folder.watch = self._watch_for(key, folder.watch.root, mount, folder.requested,
                                       folder.configured_interval)
        folder.probe.arm(real, mount)
        log.info("watch.rearmed", folder=key, root=str(folder.watch.root),
                 mode=folder.watch.mode, was=old_mode, fstype=mount.fstype,
                 source=mount.source, why=why)
        if folder.unavailable:  # the new arming checks the root again
            folder.unavailable = False
            self._sink.folder_available(key)
        was_unmounted, folder.unmounted = folder.unmounted, False
        self._arm(folder, defer=False)
        if was_unmounted:
            self._sink.folder_available(key, source="mount")  # brings the rescan
        else:
            self._sink.rescan(key, why)

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

