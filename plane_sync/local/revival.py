"""The part of :class:`~plane_sync.local.watch.Watcher` that restarts its dead threads.

Kept apart so that ``watch`` stays about watching. The mixin uses the Watcher's lock, its
folders and its :class:`~plane_sync.local.threads.ThreadKeeper`; the Watcher registers each
thread it starts (a poller, watchdog's observer, the root supervisor) with the keeper, with a
way to restart it, and this code carries the restarts out. Typed loosely (``Any``) where the
Watcher's own types live in ``watch``, the only module that may import watchdog.
"""

from __future__ import annotations

import threading
from typing import Any

from plane_sync.local.batching import ChangeSink
from plane_sync.local.threads import Restart, ThreadKeeper


class Revival:
    """Mixed into Watcher (see the module docstring)."""

    _lock: threading.RLock
    _started: bool
    _stop: threading.Event
    _sink: ChangeSink
    _folders: dict[str, Any]  # key -> watch._Folder
    _observer: Any  # watchdog's BaseObserver, or None
    _keeper: ThreadKeeper
    _unreported: list[Restart]
    _dead_observers: list[Any]

    def _start_poller(self, folder: Any, *, defer: bool) -> None:
        raise NotImplementedError

    def _schedule(self, folder: Any, *, defer: bool = False) -> bool:
        raise NotImplementedError

    def revive(self) -> list[Restart]:
        """Restart every watcher thread that died (see :mod:`plane_sync.local.threads`) and
        return what was restarted since the last call. The daemon calls it every loop turn,
        the root supervisor every round."""
        found = self._revive()
        with self._lock:
            found, self._unreported = self._unreported + found, []
        return found

    def _revive(self) -> list[Restart]:
        with self._lock:
            if not self._started or self._stop.is_set():
                return []
            restarts = self._keeper.revive()
            dead, self._dead_observers = self._dead_observers, []
        for observer in dead:  # outside the lock: its threads may be calling back into us
            observer.stop()
        return restarts

    def _restart_poller(self, folder: Any) -> None:
        if folder.poller is not None:
            folder.poller.stop(timeout=1.0)
        self._start_poller(folder, defer=False)
        self._sink.rescan(folder.watch.key, "poll thread restarted")  # changes went unseen

    def _restart_observer(self) -> None:
        """watchdog's observer or an emitter died: every inotify folder gets a new one."""
        if self._observer is not None:
            self._dead_observers.append(self._observer)
        self._observer = None
        for folder in self._folders.values():
            if folder.observed is not None:
                folder.observed = None
                if self._schedule(folder):
                    self._sink.rescan(folder.watch.key, "inotify observer restarted")

    def _observer_alive(self) -> bool:
        observer = self._observer
        if observer is None:
            return True
        try:
            return observer.is_alive() and all(e.is_alive() for e in list(observer.emitters))
        except RuntimeError:  # the emitter set changed while we looked: ask next time
            return True
