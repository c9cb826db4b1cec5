"""Watcher threads that must not die unnoticed.

A poll thread that ends on an exception (``poll_interval: 200000d`` once made its wait raise
``OverflowError``) leaves its folder unwatched while the daemon looks healthy. So every thread
of ours in ``local`` runs through :func:`guarded_thread`, which logs how it ended and keeps the
reason; :meth:`plane_sync.local.watch.Watcher.revive` finds threads (ours and watchdog's) that
are no longer alive, restarts them with a backoff, and reports each restart as a
:class:`Restart` for the daemon's log and ``plane-sync status``.

This is only about threads that *died*. A thread stuck in a hung network filesystem call is
alive; that is the I/O watchdog's business, not this module's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

FIRST_DELAY = 5.0  # a thread that dies again at once is restarted later and later
MAX_DELAY = 300.0


@dataclass(frozen=True)
class Restart:
    """One restarted thread: of folder ``key`` (None: a thread serving every folder)."""

    key: str | None
    root: str
    thread: str
    error: str
    restarts: int  # how many times this thread was restarted so far


def guarded_thread(target: Callable[[], None], *, name: str,
                   on_death: Callable[[str], None]) -> threading.Thread:
    """A daemon thread running ``target``; if it raises (anything, even SystemExit), the
    error is logged and handed to ``on_death`` instead of vanishing into the excepthook."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # a dying thread must be reported, whatever killed it
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.error("watch.thread_died", thread=name, error=error, exc_info=exc)
            on_death(error)

    return threading.Thread(target=run, name=name, daemon=True)


@dataclass
class RestartBudget:
    """When each thread may be restarted next: at once the first time; after the n-th
    restart, not before FIRST_DELAY * 2**(n-1) seconds (at most MAX_DELAY), so a thread
    that keeps dying cannot spin."""

    clock: Callable[[], float] = time.monotonic
    _counts: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def may_restart(self, thread: str) -> bool:
        return self.clock() >= self._not_before.get(thread, 0.0)

    def restarted(self, thread: str) -> int:
        count = self._counts.get(thread, 0) + 1
        self._counts[thread] = count
        delay = min(FIRST_DELAY * 2 ** (count - 1), MAX_DELAY)
        self._not_before[thread] = self.clock() + delay
        return count

    def forget(self, thread: str) -> None:
        self._counts.pop(thread, None)
        self._not_before.pop(thread, None)


@dataclass(frozen=True)
class _Kept:
    key: str | None
    root: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    death: Callable[[], str | None]


class ThreadKeeper:
    """The threads a Watcher wants alive, each with how to restart it. Not thread-safe: the
    Watcher calls it under its own lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: dict[str, _Kept] = {}
        self._budget = RestartBudget(clock)

    def keep(self, thread: str, *, alive: Callable[[], bool], restart: Callable[[], None],
             death: Callable[[], str | None] = lambda: None, key: str | None = None,
             root: str = "") -> None:
        """Watch ``thread`` (registering it again replaces it: a restarted thread)."""
        self._kept[thread] = _Kept(key, root, alive, restart, death)

    def forget(self, thread: str) -> None:
        self._kept.pop(thread, None)
        self._budget.forget(thread)

    def revive(self) -> list[Restart]:
        """Restart every kept thread that is no longer alive and may be restarted now."""
        restarts: list[Restart] = []
        for thread, kept in list(self._kept.items()):
            if kept.alive() or not self._budget.may_restart(thread):
                continue
            error = kept.death() or "ended unexpectedly"
            kept.restart()
            count = self._budget.restarted(thread)
            log.error("watch.thread_restarted", thread=thread, folder=kept.key,
                      root=kept.root, error=error, restarts=count)
            restarts.append(Restart(kept.key, kept.root, thread, error, count))
        return restarts
