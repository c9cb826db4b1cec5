"""Polling for folders inotify cannot see (network shares), on our own schedule.

One pass is one ``os.scandir`` walk with an ``lstat`` per file, within ~15-25% of the cheapest
possible walk that keeps nothing (bench/bench_poll.py measures the ratio), far from watchdog's
PollingObserver which re-walks every second and keeps ~1 KiB per file. A :data:`Snapshot` is
nested per directory: ``{dir_prefix: DirFiles(names, sizes, mtimes_ns, inodes, modes)}`` with
``""`` for the root and ``"a/b/"`` below it, regular files only. The
difference between two snapshots (POSIX paths relative to the root) is reported to the same
:class:`~plane_sync.local.batching.ChangeSink` the inotify watcher feeds.

The mode is in the signature so that a chmod that makes an unreadable file readable is seen
(it changes nothing else); modes repeat, so one int object per distinct mode is kept. The
inode is left out (an empty column, ``full=False``) on FUSE shares, where the FUSE layer makes
it up (see :mod:`plane_sync.local.filekeys`): a remount or a forgotten inode would look like
every file changed. ctime is not kept (about 40 bytes a file): a rewrite that keeps size and
mtime is left to the rescan, whose hash cache key has the ctime where it is real.

A pass never turns an unreadable tree into deletions: if the root is unavailable the pass is
dropped and the folder reported unavailable; a subdirectory that fails with anything but
"does not exist" keeps its previous entries (and those of everything below it). A pass runs
inside an I/O watchdog section (:mod:`plane_sync.local.iowatch`) with a beat per file, so a
hung share is reported as not responding instead of silently stopping the polls.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import structlog

from plane_sync.local import iowatch
from plane_sync.local.batching import DEFAULT_CAP, ChangeSink
from plane_sync.local.iowatch import FolderIO
from plane_sync.local.roots import RootProbe
from plane_sync.local.threads import guarded_thread

Signature = tuple[int, ...]  # size, mtime_ns, then inode, mode, ctime_ns where kept


class DirFiles(NamedTuple):
    """One directory's regular files, as parallel columns in listing order (a column not
    kept is empty)."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    mtimes_ns: tuple[int, ...]
    inodes: tuple[int, ...]
    modes: tuple[int, ...] = ()

    def signatures(self) -> dict[str, Signature]:
        count = len(self.names)
        columns = [c for c in (self.sizes, self.mtimes_ns, self.inodes, self.modes)
                   if len(c) == count]
        return dict(zip(self.names, zip(*columns, strict=True), strict=True))


Snapshot = dict[str, DirFiles]  # "" (the root) or "a/b/" -> that directory's files

log = structlog.get_logger(__name__)

_VANISHED = (errno.ENOENT, errno.ENOTDIR)

# Why columns (measured with bench/bench_poll.py and variants on 20k-100k files; noisy shared
# 2-CPU host, so read the figures as +-10%): the per-file loop only appends the DirEntry's own
# name and stat result; the columns are then pulled out of the stat results in C, keeping the
# int objects the stat result already made. No per-file key string, tuple or dict entry is
# built, and nothing per file is tracked by the GC. Against a plain walk (min of 25 runs):
# flat {"a/b/name": (size, mtime_ns, ino)} 1.27x; nested {name: tuple} 1.23x; nested
# {name: os.stat_result} 1.37x and ~715 B/file (the stat result keeps ~20 fields alive; its ==
# also compares whole seconds only, the ns fields being hidden, so it would miss a same-size
# rewrite within a second); filter/map over list(scandir) with no per-file bytecode 1.43x
# (holding a directory's DirEntries at once loses the allocator's cache-hot reuse); columns 1.14x.
# The signature leaves atime out, so an atime-only change is no change.
_size = attrgetter("st_size")
_mtime_ns = attrgetter("st_mtime_ns")
_inode = attrgetter("st_ino")
_mode = attrgetter("st_mode")
_MODES: dict[int, int] = {}  # one object per distinct mode (a few per tree)


class RootUnavailable(OSError):
    """The root itself could not be listed."""


def _read_dir(path: str, prefix: str, stack: list[tuple[str, str]], full: bool) -> DirFiles:
    """List one directory: its regular files; its subdirectories go on ``stack``."""
    names: list[str] = []
    stats: list[os.stat_result] = []
    beat = iowatch.beat
    with os.scandir(path) as entries:
        for entry in entries:
            beat()
            try:
                if entry.is_file(follow_symlinks=False):
                    stats.append(entry.stat(follow_symlinks=False))
                    names.append(entry.name)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
            except OSError:
                continue  # vanished between listing and stat: the next pass sees it
    return DirFiles(tuple(names), tuple(map(_size, stats)), tuple(map(_mtime_ns, stats)),
                    tuple(map(_inode, stats)) if full else (),
                    tuple(map(_MODES.setdefault, *itertools.tee(map(_mode, stats)))))


def snapshot_tree(root: Path, previous: Mapping[str, DirFiles] | None = None, *,
                  full: bool = True) -> Snapshot:
    """Walk ``root``; regular files only, symlinks not followed.

    Raises :class:`RootUnavailable` when the root cannot be listed. A subdirectory that
    cannot be listed (or fails mid-listing) for another reason than having vanished keeps its
    entries, and those of the directories below it, from ``previous`` (an I/O error on a share
    must not look like deleted files). ``full=False`` leaves inodes out.
    """
    root_str = os.fspath(root)
    snap: Snapshot = {}
    failed: list[str] = []
    stack: list[tuple[str, str]] = [(root_str, "")]
    while stack:
        path, prefix = stack.pop()
        pushed = len(stack)
        try:
            snap[prefix] = _read_dir(path, prefix, stack, full)
        except OSError as exc:
            if not prefix:
                raise RootUnavailable(exc.errno, exc.strerror, root_str) from exc
            del stack[pushed:]  # a half-listed directory's subdirectories come from previous
            if exc.errno not in _VANISHED:
                failed.append(prefix)
    if failed and previous:
        failed_prefixes = tuple(failed)
        for dir_prefix, files in previous.items():
            if dir_prefix.startswith(failed_prefixes):
                snap.setdefault(dir_prefix, files)
    return snap


def snapshot_files(snapshot: Mapping[str, DirFiles]) -> dict[str, Signature]:
    """Every file of a snapshot: path relative to the root -> signature (tests, debugging)."""
    return {prefix + name: sig for prefix, files in snapshot.items()
            for name, sig in files.signatures().items()}


def diff_snapshots(old: Mapping[str, DirFiles], new: Mapping[str, DirFiles]) -> list[str]:
    """Paths that are new, changed or removed between two snapshots."""
    return [path for path, _ in changes(old, new)]


def changes(old: Mapping[str, DirFiles],
            new: Mapping[str, DirFiles]) -> list[tuple[str, Signature | None]]:
    """(path, its signature now) for paths new or changed, (path, None) for paths removed."""
    if old == new:  # the usual case, compared in C down to every column
        return []
    changed: list[tuple[str, Signature | None]] = []
    for prefix, files in new.items():
        before = old.get(prefix)
        if before is None:
            changed.extend((prefix + name, sig) for name, sig in files.signatures().items())
        elif before != files:  # only differing directories (or a reordered listing) get here
            was, now = before.signatures(), files.signatures()
            changed.extend((prefix + name, sig) for name, sig in now.items()
                           if was.get(name) != sig)
            changed.extend((prefix + name, None) for name in was if name not in now)
    for prefix, files in old.items():
        if prefix not in new:
            changed.extend((prefix + name, None) for name in files.names)
    return changed


class FolderPoller:
    """Polls one folder every ``interval`` seconds on its own thread.

    The first pass is a silent baseline (the daemon scans at start-up anyway). :meth:`start`
    waits for it up to ``baseline_timeout`` so that a scan started afterwards misses nothing;
    a baseline that comes later (a slow or hung share) asks for a rescan of the folder when
    it is done, which restores that promise.
    """

    def __init__(self, key: str, root: Path, sink: ChangeSink, *, interval: float,
                 cap: int = DEFAULT_CAP, probe: RootProbe | None = None,
                 root_check_interval: float = 5.0,
                 on_pass: Callable[[int], None] | None = None, full: bool = True,
                 io: FolderIO | None = None) -> None:
        self.key = key
        self.root = root
        self.interval = interval
        self.cap = cap
        self.full = full
        self._sink = sink
        self._probe = probe or RootProbe(root)
        self._root_check_interval = min(root_check_interval, interval)
        self._on_pass = on_pass
        self._io = io
        self._snapshot: Snapshot | None = None
        self._unavailable = False
        self._stop = threading.Event()
        self._baseline = threading.Event()
        self._baseline_late = False
        self._lock = threading.Lock()
        self.death: str | None = None  # why the thread ended, if it died (local.threads)
        self._thread = guarded_thread(self._run, name=f"poll:{key}", on_death=self._died)

    @property
    def unavailable(self) -> bool:
        """Whether this poller reported its folder unavailable (and not back since)."""
        return self._unavailable

    def start(self, baseline_timeout: float | None = 60.0) -> bool:
        """Start polling and wait up to ``baseline_timeout`` for the baseline (None: do not
        wait; call :meth:`wait_baseline`). True when it was taken in time."""
        self._thread.start()
        if baseline_timeout is None:
            return self._baseline.is_set()
        return self.wait_baseline(baseline_timeout)

    def wait_baseline(self, timeout: float) -> bool:
        """Wait for the baseline; if it does not come in time, it asks for a rescan of the
        folder once it is done."""
        if self._baseline.wait(timeout):
            return True
        with self._lock:
            self._baseline_late = not self._baseline.is_set()
            return not self._baseline_late

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling; False when the thread is still held by the filesystem after
        ``timeout`` (it stops, reporting nothing more, once its call returns)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _died(self, error: str) -> None:
        self.death = error
        self._baseline.set()  # start() must not wait for a baseline that never comes

    def poll_once(self) -> list[str]:
        """One pass: report and return the changed paths (also usable without the thread)."""
        with iowatch.fs_section("poll"):
            return self._poll()

    def _poll(self) -> list[str]:
        if self._probe.mount_moved():
            return []  # the watcher decides: share unmounted, arrived or replaced
        reason = self._probe.check()
        if reason is None:
            try:
                new = snapshot_tree(self.root, self._snapshot, full=self.full)
            except RootUnavailable as exc:
                reason = f"folder root cannot be listed: {exc.strerror}"
            else:
                # The share may have gone away during the walk: then the pass proves nothing.
                if self._probe.mount_moved():
                    return []
                reason = self._probe.check()
        if self._stop.is_set():
            return []  # stopped (or replaced) while the filesystem held us: say nothing
        if reason is not None:
            if not self._unavailable:
                self._unavailable = True
                log.warning("folder.unavailable", folder=self.key, root=str(self.root),
                            reason=reason)
                self._sink.folder_unavailable(self.key, reason)
            return []
        if self._unavailable:
            self._unavailable = False
            self._snapshot = new
            log.info("folder.available", folder=self.key, root=str(self.root))
            self._sink.folder_available(self.key)  # the sink rescans it
            return []
        old, self._snapshot = self._snapshot, new
        if old is None:
            return []
        changed = changes(old, new)
        if len(changed) > self.cap:
            self._sink.rescan(self.key, f"poll found {len(changed)} changed paths")
        else:
            seen_at = time.monotonic()
            for rel, sig in changed:
                # What the poll saw (size, mtime_ns) and when: the settle check counts from
                # here, so a file that holds still is taken by the first pass.
                self._sink.hint(self.key, rel,
                                seen=None if sig is None else (sig[0], sig[1], seen_at))
        if self._on_pass is not None:
            self._on_pass(len(changed))
        return [rel for rel, _ in changed]

    def _first_pass(self) -> None:
        try:
            self.poll_once()
        except Exception:
            log.exception("poll.failed", folder=self.key)
        finally:
            with self._lock:
                self._baseline.set()
                late = self._baseline_late
        if late and not self._stop.is_set():
            # Nobody waited for this baseline: a scan that ran meanwhile may have missed
            # what changed before it was taken.
            self._sink.rescan(self.key, "first look at the folder done")

    def _run(self) -> None:
        with iowatch.using(self._io):
            self._first_pass()
            while not self._stop.wait(self._root_check_interval if self._unavailable
                                      else self.interval):
                try:
                    self.poll_once()
                except iowatch.FolderNotResponding:
                    return
                except Exception:  # keep polling: one bad pass must not blind the folder
                    log.exception("poll.failed", folder=self.key)
