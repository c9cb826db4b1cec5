"""Turn watcher hints into per-folder batches the daemon loop can wait on.

Events are hints, not work: a burst of them becomes one batch per folder, due after a quiet
period (no new hint for ``quiet`` seconds) or at the latest ``max_wait`` seconds after the
batch's first hint. More than ``cap`` distinct paths, or an explicit :meth:`ChangeQueue.rescan`,
turns the batch into a whole-folder rescan (``paths is None``).

The queue also carries folder availability (a share that was unmounted and came back), so one
``Condition`` wakes the daemon for everything the watcher has to say. Several observers may
find a folder unavailable for their own reasons (``source``: "watch" the root is missing,
"mount" its share was unmounted, "io" its filesystem does not answer); it is available again
once every one of them says so. The clock is injectable:
tests drive ``now`` by hand and never sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_QUIET = 2.0
DEFAULT_MAX_WAIT = 30.0
DEFAULT_CAP = 10_000


Seen = tuple[int, int, float]  # size, mtime_ns, monotonic time they were seen (by a poll)


class ChangeSink(Protocol):
    """What a watcher reports to. ``rel_path`` is POSIX, relative to the folder root; it may
    name a directory (meaning: everything below it), or be None (rescan the whole folder).
    ``seen``: what a poll saw of the file, for the settle check."""

    def hint(self, key: str, rel_path: str | None, seen: Seen | None = None) -> None: ...

    def rescan(self, key: str, reason: str) -> None: ...

    def folder_unavailable(self, key: str, reason: str, source: str = "watch") -> None: ...

    def folder_available(self, key: str, source: str = "watch") -> None: ...


@dataclass(frozen=True)
class Batch:
    """Work for one folder. ``paths is None`` means: rescan the whole folder."""

    key: str
    paths: frozenset[str] | None
    reason: str
    # What polls saw of some paths (not part of a batch's identity).
    seen: dict[str, Seen] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class FolderStatus:
    """A folder became unavailable (root gone / share unmounted) or available again."""

    key: str
    available: bool
    reason: str
    source: str = "watch"  # who found it unavailable (see the module docstring)


@dataclass
class _Pending:
    first: float
    last: float
    paths: set[str] | None = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    seen: dict[str, Seen] = field(default_factory=dict)


class ChangeQueue:
    """Thread-safe sink for hints; the daemon loop calls :meth:`wait` then :meth:`take_due`."""

    def __init__(self, *, quiet: float = DEFAULT_QUIET, max_wait: float = DEFAULT_MAX_WAIT,
                 cap: int = DEFAULT_CAP, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.cap = cap
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._status: list[FolderStatus] = []
        self._unavailable: dict[str, dict[str, str]] = {}  # key -> {source: reason}
        self._woken = False

    # -- the sink side (watcher threads) -------------------------------------------------

    def hint(self, key: str, rel_path: str | None, seen: Seen | None = None) -> None:
        if rel_path is None:
            self.rescan(key, "hint")
            return
        with self._cond:
            if key in self._unavailable:
                return  # nothing to do until it is back; its return brings a rescan
            pending = self._touch(key)
            earlier = pending.seen.get(rel_path)
            if seen is not None and (earlier is None or earlier[:2] != seen[:2]):
                pending.seen[rel_path] = seen  # the first sighting of this state counts
            if pending.paths is not None:
                pending.paths.add(rel_path)
                if len(pending.paths) > self.cap:
                    pending.paths = None
                    pending.reasons.append(f"more than {self.cap} changed paths")
                elif "changes" not in pending.reasons:
                    pending.reasons.append("changes")
            self._cond.notify_all()

    def rescan(self, key: str, reason: str) -> None:
        with self._cond:
            if key in self._unavailable:
                return
            pending = self._touch(key)
            pending.paths = None
            if reason not in pending.reasons:
                pending.reasons.append(reason)
            self._cond.notify_all()

    def folder_unavailable(self, key: str, reason: str, source: str = "watch") -> None:
        with self._cond:
            causes = self._unavailable.setdefault(key, {})
            if source in causes:
                return
            causes[source] = reason
            self._pending.pop(key, None)  # scanning a missing folder would look like deletions
            self._status.append(FolderStatus(key, False, reason, source))
            self._cond.notify_all()

    def folder_available(self, key: str, source: str = "watch") -> None:
        with self._cond:
            causes = self._unavailable.get(key)
            if causes is None or causes.pop(source, None) is None:
                return
            if causes:  # still unavailable for another reason: say which
                other, reason = next(iter(causes.items()))
                self._status.append(FolderStatus(key, False, reason, other))
                self._cond.notify_all()
                return
            del self._unavailable[key]
            self._status.append(FolderStatus(key, True, "folder is back", source))
        self.rescan(key, "folder is back")

    # -- the daemon side ---------------------------------------------------------------

    def take_due(self, now: float | None = None) -> list[Batch]:
        """Remove and return every batch that is due at ``now``."""
        now = self._clock() if now is None else now
        with self._cond:
            due = [k for k, p in self._pending.items() if self._due_at(p) <= now]
            batches = []
            for key in due:
                pending = self._pending.pop(key)
                paths = None if pending.paths is None else frozenset(pending.paths)
                batches.append(Batch(key, paths, ", ".join(pending.reasons), pending.seen))
            return batches

    def take_status(self) -> list[FolderStatus]:
        """Availability changes since the last call, oldest first."""
        with self._cond:
            changes, self._status = self._status, []
            return changes

    def unavailable(self) -> dict[str, str]:
        """Folders currently unavailable, with the reason (the latest cause)."""
        with self._cond:
            return {key: list(causes.values())[-1]
                    for key, causes in self._unavailable.items()}

    def next_due(self) -> float | None:
        """Clock time at which the earliest pending batch is due (None: nothing pending)."""
        with self._cond:
            return min((self._due_at(p) for p in self._pending.values()), default=None)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a batch is due, a status change arrives, or ``timeout`` passes.

        Returns True when there is something to take. Wakes early on every new hint and
        re-computes the due time, so a quiet period extended by a new hint is honoured.
        """
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                now = self._clock()
                if self._woken:
                    self._woken = False
                    return True
                if self._status or any(self._due_at(p) <= now for p in self._pending.values()):
                    return True
                due = min((self._due_at(p) for p in self._pending.values()), default=None)
                limits = [t for t in (due, deadline) if t is not None]
                if deadline is not None and now >= deadline:
                    return False
                self._cond.wait(None if not limits else max(0.0, min(limits) - now))

    def wake(self) -> None:
        """Make the current or next :meth:`wait` return True at once (e.g. on shutdown)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    # -- internals -----------------------------------------------------------------------

    def _touch(self, key: str) -> _Pending:
        now = self._clock()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first=now, last=now)
        else:
            pending.last = now
        return pending

    def _due_at(self, pending: _Pending) -> float:
        return min(pending.last + self.quiet, pending.first + self.max_wait)
