"""When each target's next pass is due, and how long Plane trouble holds every pass back.

A target is *dirty* from the moment something says it may have changed (a batch of hints, a
rescan, files still settling, a failed file's retry time) until a pass over it starts. Of two
times asked for the same target the earlier wins: a change must not wait behind a failed
file's retry a minute away. A pass may be asked to *list* the work item whatever the scan
finds (a re-check, or a rescan the user asked for); otherwise it asks Plane only when the
folder changed (see :mod:`plane_sync.sync.unchanged`). Due passes run in the order they
were asked for, those that must list last: uploads and deletions come first. Plane trouble
(unreachable, 5xx or 429 after the client's own retries, a storage host that keeps failing)
holds every pass back for a backoff of 5 s doubling to 5 min, reset by the first pass that
gets through.
"""

from __future__ import annotations

import time

BACKOFF_FIRST, BACKOFF_MAX = 5.0, 300.0


class Scheduler:
    def __init__(self) -> None:
        self._due: dict[str, float] = {}  # target key -> when its pass may run (monotonic)
        self._listing: set[str] = set()  # targets whose next pass must list the work item
        self.backoff = 0.0
        self.backoff_until = 0.0

    def mark(self, key: str, when: float, *, listing: bool = False) -> None:
        """Run a pass over ``key`` at ``when`` at the latest; ``listing``: one that lists
        the work item even if the folder did not change."""
        self._due[key] = min(self._due.get(key, when), when)
        if listing:
            self._listing.add(key)

    def forget(self, key: str) -> None:
        self._due.pop(key, None)
        self._listing.discard(key)

    def when(self, key: str) -> float | None:
        """When ``key``'s pass is due; None when it is not dirty. (One dict read: safe
        from another thread.)"""
        return self._due.get(key)

    def due(self, now: float) -> list[str]:
        """Targets whose pass is due, the longest waiting first, those that must list last."""
        ready = [(k in self._listing, when, k) for k, when in self._due.items() if when <= now]
        return [k for _, _, k in sorted(ready)]

    def take(self, key: str) -> bool:
        """Start a pass over ``key``: it is no longer dirty. True if it must list."""
        self._due.pop(key, None)
        if key in self._listing:
            self._listing.discard(key)
            return True
        return False

    def mark_retry(self, key: str, now: float, retry_at: list[float]) -> None:
        """Failed files are retried on the state's schedule, and waits with a time of their
        own (someone else's pending upload, paused uploads) are looked at when due
        (``retry_at``: wall-clock times): come back when the first is due, a second from now
        at the earliest."""
        if retry_at:
            self.mark(key, now + max(min(retry_at) - time.time(), 1.0))

    def sleep_time(self, now: float, others: list[float], watchdog: float | None) -> float:
        """How long the loop may sleep: until the first pass, or other deadline (rescans,
        batches), is due, no longer than a backoff allows nor the watchdog, a minute at
        most."""
        deadlines = [*others, *self._due.values()]
        if self.backing_off(now):
            deadlines = [max(d, self.backoff_until) for d in deadlines]
        wait = min([d - now for d in deadlines] + [watchdog or 60.0, 60.0])
        return max(wait, 0.05)

    def busy(self, now: float) -> bool:
        return any(when <= now for when in self._due.values())

    def backing_off(self, now: float) -> bool:
        return now < self.backoff_until

    def trouble(self, now: float) -> float:
        """Plane trouble: hold every pass back; returns the delay."""
        self.backoff = min(max(self.backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        self.backoff_until = now + self.backoff
        return self.backoff

    def recovered(self) -> None:
        self.backoff = 0.0
