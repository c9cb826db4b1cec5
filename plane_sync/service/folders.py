"""What the daemon knows about one configured folder: its targets, when it is rescanned, and
which targets a batch of hints makes dirty.

A folder maps to one target (``work_item``) or to one per subfolder (``work_items:
subfolders``). Its targets are resolved against Plane on its first rescan and, for subfolder
maps, on every rescan (new subfolders appear). A work item that could not be looked up is
looked up again soon, backing off, rather than at the next full rescan.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field

import structlog

from plane_sync.config.types import FolderConfig, SubfolderTarget
from plane_sync.local.batching import Batch
from plane_sync.local.settle import Settler, folder_settler
from plane_sync.service.scheduler import BACKOFF_FIRST, BACKOFF_MAX, Scheduler
from plane_sync.sync.conditions import Conditions
from plane_sync.sync.targets import Target, TargetProblem

log = structlog.get_logger(__name__)

RECHECK_MAX = 30.0  # longest wait between two looks at files that keep changing


@dataclass
class FolderRun:
    folder: FolderConfig
    settler: Settler
    targets: dict[str, Target] = field(default_factory=dict)
    problems: list[TargetProblem] = field(default_factory=list)
    resolved: bool = False
    available: bool = True
    next_rescan: float = 0.0
    unresolved_retry: float = 0.0  # current delay before resolving unresolved targets again
    listing_asked: bool = False  # the next rescan lists every work item (the user asked)
    watch_mode: str = ""  # "inotify" or "poll", as the watcher chose it
    waiting_streak: dict[str, int] = field(default_factory=dict)  # passes with files waiting

    @classmethod
    def start(cls, folder: FolderConfig, *, watch_mode: str, now: float) -> FolderRun:
        # ctime is stamped by the file server's clock: trust it on local disks only.
        settler = folder_settler(folder.settle, trust_ctime=watch_mode == "inotify")
        return cls(folder, settler, next_rescan=now, watch_mode=watch_mode)

    @property
    def has_unresolved(self) -> bool:
        return any(p.kind == "unresolved" for p in self.problems)

    @property
    def needs_mapping(self) -> bool:
        """Whether the next rescan must ask Plane for the targets first."""
        return (isinstance(self.folder.target, SubfolderTarget) or not self.resolved
                or self.has_unresolved)

    def accept_batch(self, batch: Batch, now: float, schedule: Scheduler) -> None:
        """Mark the targets a batch of hints touches dirty (or rescan the folder when the
        hints cannot be routed to a known target)."""
        if not self.resolved or not self.available:
            self.next_rescan = now
            return
        self._note_seen(batch)
        if not isinstance(self.folder.target, SubfolderTarget):
            for key in self.targets:
                schedule.mark(key, now)
            return
        if batch.paths is None:
            self.next_rescan = now
            return
        for path in batch.paths:
            top = path.split("/", 1)[0]
            key = f"{self.folder.key}/{top}"
            if key in self.targets:
                schedule.mark(key, now)
            else:  # a new or renamed subfolder: map the folder again
                self.next_rescan = now

    def _note_seen(self, batch: Batch) -> None:
        """Tell the Settler what the poll saw, so that the wait counts from the poll."""
        subfolders = isinstance(self.folder.target, SubfolderTarget)
        for path, (size, mtime_ns, when) in batch.seen.items():
            key, rel = next(iter(self.targets), None), path
            if subfolders:
                top, _, rel = path.partition("/")
                key = f"{self.folder.key}/{top}"
            if key in self.targets and rel:
                self.settler.seen(key, rel, size, mtime_ns, when)

    def recheck_delay(self, key: str) -> float:
        """When to look again at a target whose files are still settling: after ``settle``,
        then twice as long each time files are still found changing, up to ten settle
        times (at most RECHECK_MAX). A file written for minutes must not cost a pass (a
        Plane listing, a walk of the share) every settle seconds."""
        streak = self.waiting_streak.get(key, 0)
        self.waiting_streak[key] = streak + 1
        settle = max(self.folder.settle, 0.2)
        delay: float = settle * 2.0 ** min(streak, 16)
        return min(delay, max(settle, min(RECHECK_MAX, 10 * settle)))

    def nothing_waiting(self, key: str) -> None:
        self.waiting_streak.pop(key, None)

    def plan_next_rescan(self, now: float, jitter: float) -> None:
        interval = self.folder.rescan_interval
        self.next_rescan = now + interval * random.uniform(1 - jitter, 1 + jitter)

    def mapping_failed(self, now: float, backoff: float) -> None:
        """Plane could not be asked for the targets: try again after the backoff."""
        self.next_rescan = now + min(self.folder.rescan_interval, max(backoff, BACKOFF_FIRST))

    def rescanned(self, now: float, schedule: Scheduler) -> None:
        """The targets are known: every one gets a pass (one that asks Plane only if its
        folder changed, unless the user asked for the rescan); unresolved ones are retried
        soon."""
        if self.has_unresolved:
            # A work item that could not be looked up (a 5xx after retries, or a typo).
            self.unresolved_retry = min(max(self.unresolved_retry * 2, BACKOFF_FIRST),
                                        BACKOFF_MAX)
            self.next_rescan = min(self.next_rescan, now + self.unresolved_retry)
        else:
            self.unresolved_retry = 0.0
        listing, self.listing_asked = self.listing_asked, False
        for key in self.targets:
            schedule.mark(key, now, listing=listing)


def say_problems(conditions: Conditions, folder_key: str, problems: list[TargetProblem]) -> None:
    """Log each mapping problem of a folder (a subfolder named after no work item, one whose
    work item cannot be found) when it appears or changes, and once when it is gone: a
    subfolder map is resolved on every rescan, and the same line every ten minutes would
    bury what changed."""
    current: set[Hashable] = set()
    for p in problems:
        key = ("mapping", folder_key, str(p.path), p.kind)
        current.add(key)
        conditions.start(key, f"folder.{p.kind}", path=str(p.path), work_item=p.label,
                         reason=p.reason)
    for gone in conditions.active(("mapping", folder_key)):
        if gone not in current:
            assert isinstance(gone, tuple)
            conditions.end(gone, f"folder.{gone[3]}_ended", path=gone[2])
