"""Polling for folders inotify cannot see (network shares), on our own schedule.

One pass is one ``os.scandir`` walk with an ``lstat`` per file: the same work as the cheapest
possible walk (see bench/bench_poll.py), far from watchdog's PollingObserver which re-walks every
second and keeps ~1 KiB per file. A snapshot maps each regular file's POSIX path relative to the
root to ``(size, mtime_ns, inode)``; the difference between two snapshots is reported to the same
:class:`~plane_sync.batching.ChangeSink` the inotify watcher feeds.

A pass never turns an unreadable tree into deletions: if the root is unavailable the pass is
dropped and the folder reported unavailable; a subdirectory that fails with anything but
"does not exist" keeps its previous entries.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from plane_sync.batching import DEFAULT_CAP, ChangeSink
from plane_sync.watch_roots import RootProbe

Signature = tuple[int, int, int]  # size, mtime_ns, inode
Snapshot = dict[str, Signature]

log = structlog.get_logger(__name__)

_VANISHED = (errno.ENOENT, errno.ENOTDIR)


class RootUnavailable(OSError):
    """The root itself could not be listed."""


def snapshot_tree(root: Path, previous: Mapping[str, Signature] | None = None) -> Snapshot:
    """Walk ``root``; regular files only, symlinks not followed.

    Raises :class:`RootUnavailable` when the root cannot be listed. A subdirectory that
    cannot be listed for another reason than having vanished keeps its entries from
    ``previous`` (an I/O error on a share must not look like deleted files).
    """
    root_str = os.fspath(root)
    snap: Snapshot = {}
    failed: list[str] = []
    stack: list[tuple[str, str]] = [(root_str, "")]
    while stack:
        path, prefix = stack.pop()
        try:
            entries = os.scandir(path)
        except OSError as exc:
            if not prefix:
                raise RootUnavailable(exc.errno, exc.strerror, root_str) from exc
            if exc.errno not in _VANISHED:
                failed.append(prefix)
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, prefix + entry.name + "/"))
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        snap[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
                except OSError:
                    continue  # vanished between listing and stat: the next pass sees it
    if failed and previous:
        for rel, sig in previous.items():
            if any(rel.startswith(p) for p in failed):
                snap.setdefault(rel, sig)
    return snap


def diff_snapshots(old: Mapping[str, Signature], new: Mapping[str, Signature]) -> list[str]:
    """Paths that are new, changed or removed between two snapshots."""
    if old == new:  # the usual case, compared in C
        return []
    changed = [rel for rel, sig in new.items() if old.get(rel) != sig]
    changed.extend(rel for rel in old if rel not in new)
    return changed


class FolderPoller:
    """Polls one folder every ``interval`` seconds on its own thread.

    The first pass is a silent baseline (the daemon scans at start-up anyway); :meth:`start`
    waits for it (up to ``baseline_timeout``) so that a scan started afterwards misses nothing.
    """

    def __init__(self, key: str, root: Path, sink: ChangeSink, *, interval: float,
                 cap: int = DEFAULT_CAP, probe: RootProbe | None = None,
                 root_check_interval: float = 5.0,
                 on_pass: Callable[[int], None] | None = None) -> None:
        self.key = key
        self.root = root
        self.interval = interval
        self.cap = cap
        self._sink = sink
        self._probe = probe or RootProbe(root)
        self._root_check_interval = min(root_check_interval, interval)
        self._on_pass = on_pass
        self._snapshot: Snapshot | None = None
        self._unavailable = False
        self._stop = threading.Event()
        self._baseline = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll:{key}", daemon=True)

    def start(self, baseline_timeout: float | None = 60.0) -> None:
        self._thread.start()
        self._baseline.wait(baseline_timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def poll_once(self) -> list[str]:
        """One pass: report and return the changed paths (also usable without the thread)."""
        reason = self._probe.check()
        if reason is None:
            try:
                new = snapshot_tree(self.root, self._snapshot)
            except RootUnavailable as exc:
                reason = f"folder root cannot be listed: {exc.strerror}"
            else:
                # The share may have gone away during the walk: then the pass proves nothing.
                reason = self._probe.check()
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
        changed = diff_snapshots(old, new)
        if len(changed) > self.cap:
            self._sink.rescan(self.key, f"poll found {len(changed)} changed paths")
        else:
            for rel in changed:
                self._sink.hint(self.key, rel)
        if self._on_pass is not None:
            self._on_pass(len(changed))
        return changed

    def _run(self) -> None:
        try:
            self.poll_once()
        except Exception:
            log.exception("poll.failed", folder=self.key)
        finally:
            self._baseline.set()
        while not self._stop.wait(self._root_check_interval if self._unavailable
                                  else self.interval):
            try:
                self.poll_once()
            except Exception:  # keep polling: one bad pass must not blind the folder for good
                log.exception("poll.failed", folder=self.key)
