"""Is a file done being written? A (size, mtime_ns) that held still for ``settle`` seconds.

inotify's close-write is not enough: files landing in a just-created directory get only a
"created" event, and a network share gives no events at all. So every hinted file goes through
:class:`Settler`: the first look records its (size, mtime_ns); it is *stable* once a later look
sees the same pair at least ``settle`` seconds after it was first seen that way. A file that keeps
changing is taken anyway ``max_wait`` seconds after it was first seen, so a log file that is
appended to forever still gets uploaded now and then.

Shortcut: when the file's ctime is already ``settle`` seconds in the past by the wall clock, it
is stable on first look. ctime moves on every write and cannot be set from user space (``cp -p``
can back-date mtime, not ctime). That trusts the file server's clock, so pass
``trust_ctime=False`` for network shares where clocks may disagree.

A file that settled is remembered as settled with its (size, mtime_ns): looking at it again
unchanged says "stable" at once. Forgetting it made every later look a first look on network
shares, so every pass found files "changing" again, which asked for another pass: two groups
of files a settle time apart kept each other going for ever. The daemon drops what a pass did
not look at (:meth:`Settler.begin` / :meth:`Settler.end`): files that went away, and files the
hash cache now vouches for (the scan does not ask about those).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

DEFAULT_SETTLE = 2.0
DEFAULT_MAX_WAIT = 30.0
CHANGING_MAX_WAIT = 60.0  # a folder's file that never settles is taken anyway after this long


@dataclass(frozen=True)
class SettleResult:
    stable: frozenset[str]  # take these now
    changing: frozenset[str]  # look again later (re-hint them)
    gone: frozenset[str]  # vanished or no longer a regular file
    forced: frozenset[str]  # subset of ``stable`` taken only because max_wait passed

    @property
    def retry_after(self) -> bool:
        return bool(self.changing)


@dataclass
class _Seen:
    signature: tuple[int, int]
    since: float  # clock time the signature was first seen
    first_seen: float  # clock time the path was first seen changing
    looked: float  # clock time of the last look
    settled: bool = False  # the signature held still (or max_wait ran out)


class Settler:
    """Remembers what it saw per (folder key, path); not thread-safe (the daemon loop owns it)."""

    def __init__(self, *, settle: float = DEFAULT_SETTLE, max_wait: float = DEFAULT_MAX_WAIT,
                 trust_ctime: bool = True, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.settle = settle
        self.max_wait = max_wait
        self.trust_ctime = trust_ctime
        self._clock = clock
        self._wall_clock = wall_clock
        self._seen: dict[tuple[str, str], _Seen] = {}

    def observe(self, key: str, rel_path: str, size: int, mtime_ns: int,
                ctime_ns: int | None = None) -> str:
        """Record one look at a file; return ``"stable"``, ``"forced"`` or ``"changing"``."""
        now = self._clock()
        signature = (size, mtime_ns)
        seen = self._seen.get((key, rel_path))
        if seen is None:
            if (self.trust_ctime and ctime_ns is not None
                    and self._wall_clock() - ctime_ns / 1e9 >= self.settle):
                return "stable"
            self._seen[(key, rel_path)] = _Seen(signature, now, now, now)
            return "changing"
        seen.looked = now
        if seen.signature != signature:
            if seen.settled:  # it settled before and changes again: a new wait
                seen.settled, seen.first_seen = False, now
            seen.signature, seen.since = signature, now
        elif seen.settled:
            return "stable"
        if now - seen.since >= self.settle:
            seen.settled = True
            return "stable"
        if now - seen.first_seen >= self.max_wait:
            seen.settled = True
            return "forced"
        return "changing"

    def scan_check(self, key: str, root: Path, *, touch: Callable[[], None] = lambda: None,
                   ) -> Callable[[str, os.stat_result], bool]:
        """The scan's question for each file of folder ``key`` (at ``root``): has it stopped
        changing? A file taken only because it never settled is said so. ``touch``: called
        per file (a long scan is progress too)."""

        def settled(rel_path: str, st: os.stat_result) -> bool:
            touch()
            verdict = self.observe(key, rel_path, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if verdict == "forced":
                log.warning("file.never_settles", folder=str(root), path=rel_path,
                            note=f"still changing after {self.max_wait:.0f}s: taken as is")
            return verdict != "changing"

        return settled

    def check(self, key: str, root: Path, rel_paths: Iterable[str]) -> SettleResult:
        """stat each path below ``root`` and sort them into stable / changing / gone."""
        stable: set[str] = set()
        changing: set[str] = set()
        gone: set[str] = set()
        forced: set[str] = set()
        for rel in rel_paths:
            try:
                st = os.stat(root / rel, follow_symlinks=False)
            except OSError:
                self.forget(key, rel)
                gone.add(rel)
                continue
            if not _is_regular(st.st_mode):
                self.forget(key, rel)
                gone.add(rel)
                continue
            verdict = self.observe(key, rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if verdict == "changing":
                changing.add(rel)
            else:
                stable.add(rel)
                if verdict == "forced":
                    forced.add(rel)
        return SettleResult(frozenset(stable), frozenset(changing), frozenset(gone),
                            frozenset(forced))

    def forget(self, key: str, rel_path: str | None = None) -> None:
        """Drop what is remembered for one path, or for a whole folder."""
        if rel_path is not None:
            self._seen.pop((key, rel_path), None)
            return
        for k in [k for k in self._seen if k[0] == key]:
            del self._seen[k]

    def seen(self, key: str, rel_path: str, size: int, mtime_ns: int, when: float) -> None:
        """Someone else looked at the file at clock time ``when`` (a poll): count the wait
        from then, unless that state was seen earlier already."""
        signature = (size, mtime_ns)
        seen = self._seen.get((key, rel_path))
        if seen is None:
            self._seen[(key, rel_path)] = _Seen(signature, when, when, when)
        elif seen.signature != signature and when >= seen.since:
            if seen.settled:
                seen.settled, seen.first_seen = False, when
            seen.signature, seen.since, seen.looked = signature, when, max(seen.looked, when)

    def begin(self, key: str) -> float:
        """A pass over folder ``key`` starts: give the returned mark to :meth:`end`."""
        return self._clock()

    def end(self, key: str, mark: float) -> None:
        """The pass that began at ``mark`` is over: forget the paths it did not look at."""
        for k in [k for k, seen in self._seen.items() if k[0] == key and seen.looked < mark]:
            del self._seen[k]

    def retain(self, key: str, rel_paths: Iterable[str]) -> None:
        """Forget every path of folder ``key`` except ``rel_paths`` (still changing)."""
        keep = set(rel_paths)
        for k in [k for k in self._seen if k[0] == key and k[1] not in keep]:
            del self._seen[k]

    def tracked(self) -> int:
        return len(self._seen)


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


def folder_settler(settle: float, *, trust_ctime: bool,
                   clock: Callable[[], float] = time.monotonic,
                   wall_clock: Callable[[], float] = time.time) -> Settler:
    """The settler of one configured folder (the daemon's and ``sync``'s alike): a file that
    never settles is taken after ``CHANGING_MAX_WAIT``, or ten settle times if that is longer.
    ``trust_ctime``: only where this machine stamps ctime (see the module docstring)."""
    return Settler(settle=settle, max_wait=max(CHANGING_MAX_WAIT, 10 * settle),
                   trust_ctime=trust_ctime, clock=clock, wall_clock=wall_clock)
