"""A watchdog on each folder's filesystem calls: a hung file server is noticed, not waited for.

A stopped (not dead) NFS/SMB/sshfs server leaves a ``stat`` or ``read`` on its share blocked
in the kernel, for as long as the server is away; nothing in user space can cancel it. So the
daemon makes such calls only on threads a hang may hold: the folder's poll thread and the
thread its pass runs on, never the main loop (which answers signals and writes the status).
This module lets those threads say where they are:

- :func:`using` (per thread) names the folder whose calls the thread makes, and the *scope*
  they count for: a job's thread is its own scope; a helper working for it (an upload worker
  of the pass, see :mod:`plane_sync.sync.parallel`) joins the job's scope (:func:`current`),
  so a helper stuck in a read stalls the job, and abandoning the job abandons the helper;
- :func:`fs_section` wraps a stretch of filesystem calls (a scan, a poll, one read of a
  file being uploaded); :func:`beat` inside it says "one more call returned" (per file, per
  directory, per chunk read). Outside :func:`using` both cost almost nothing and do nothing.

:class:`IOWatch` keeps one :class:`FolderIO` per folder, and its thread checks them every
second: a section whose last beat is older than the folder's ``timeout`` means the folder is
**not responding**; it is reported once to the ChangeSink (``folder_unavailable(...,
source="io")``), and once more when every call has returned (``folder_available``).

A thread the daemon gave up waiting for is *abandoned* (:meth:`FolderIO.abandon`): when its
call finally returns, the next beat or the end of its section raises
:class:`FolderNotResponding`, so it does nothing more (no upload, no state write) behind the
back of the passes that went on without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

from plane_sync.errors import Interrupted

log = structlog.get_logger(__name__)

CHECK_INTERVAL = 1.0
T = TypeVar("T")


class FolderNotResponding(Interrupted):
    """Raised in a thread whose filesystem call returned after the daemon gave up on it."""

    title = "Folder not responding"


class AvailabilitySink(Protocol):
    def folder_unavailable(self, key: str, reason: str, source: str = ...) -> None: ...

    def folder_available(self, key: str, source: str = ...) -> None: ...


@dataclass
class Scope:
    """A folder job (its thread) and the helper threads working for it."""

    thread: int
    abandoned: bool = False  # set once: the job and its helpers do nothing more


@dataclass
class _Call:
    thread: int
    where: str
    beat: float
    clock: Callable[[], float]
    scope: Scope
    abandoned: bool = False


class FolderIO:
    """The filesystem calls in flight for one folder, one per thread."""

    def __init__(self, key: str, timeout: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.key = key
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self.not_responding_since: float | None = None  # set by the watchdog

    @property
    def not_responding(self) -> bool:
        return self.not_responding_since is not None

    def stall(self, now: float) -> tuple[float, str] | None:
        """The longest time a call in flight went without a beat, and where it is."""
        with self._lock:
            calls = list(self._calls.values())
        if not calls:
            return None
        worst = min(calls, key=lambda c: c.beat)
        return now - worst.beat, worst.where

    def thread_stall(self, thread: int, now: float) -> float | None:
        """How long ``thread``, or a helper in its scope, has been in a call of this folder
        without a beat, the longest of them (None: none is in one)."""
        with self._lock:
            beats = [c.beat for c in self._calls.values() if c.scope.thread == thread]
        return None if not beats else now - min(beats)

    def abandon(self, thread: int) -> None:
        """Nobody waits for ``thread`` any more: it and its helpers stop at their next beat,
        and a helper of its scope does not start another call."""
        with self._lock:
            for call in self._calls.values():
                if call.scope.thread == thread:
                    call.abandoned = call.scope.abandoned = True

    def _enter(self, where: str, scope: Scope | None) -> _Call:
        thread = threading.get_ident()
        scope = scope or Scope(thread)
        call = _Call(thread, where, self._clock(), self._clock, scope, scope.abandoned)
        with self._lock:
            self._calls[call.thread] = call
        return call

    def _leave(self, call: _Call) -> None:
        with self._lock:
            if self._calls.get(call.thread) is call:
                del self._calls[call.thread]


_local = threading.local()


@contextmanager
def using(io: FolderIO | None, scope: Scope | None = None) -> Iterator[None]:
    """The calling thread's filesystem sections count for ``io`` (None: for nobody), in
    ``scope`` (None: a scope of its own)."""
    before = getattr(_local, "io", None), getattr(_local, "scope", None)
    _local.io = io
    _local.scope = scope or (Scope(threading.get_ident()) if io is not None else None)
    try:
        yield
    finally:
        _local.io, _local.scope = before


def current() -> tuple[FolderIO | None, Scope | None]:
    """The folder and scope the calling thread's calls count for, to hand to a helper."""
    return getattr(_local, "io", None), getattr(_local, "scope", None)


@contextmanager
def fs_section(where: str = "") -> Iterator[None]:
    """Filesystem calls follow (see the module docstring); nested sections are one."""
    io: FolderIO | None = getattr(_local, "io", None)
    if io is None or getattr(_local, "call", None) is not None:
        yield
        beat()
        return
    call = io._enter(where, getattr(_local, "scope", None))
    _local.call = call
    try:
        yield
    finally:
        _local.call = None
        io._leave(call)
    if call.abandoned:
        raise FolderNotResponding(f"{io.key}: gave up waiting for the filesystem ({where})")


def beat() -> None:
    """One more filesystem call returned (no-op outside a section)."""
    call: _Call | None = getattr(_local, "call", None)
    if call is not None:
        call.beat = call.clock()
        if call.abandoned:
            raise FolderNotResponding("gave up waiting for the filesystem")


def call_with_deadline(fn: Callable[[], T], timeout: float, fallback: T) -> T:
    """``fn()`` on a helper thread; ``fallback`` if it has not returned within ``timeout``
    (for one-off calls such as resolving a folder's real path, on threads that must not
    hang). The helper is left to finish on its own."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="fs-call", daemon=True).start()
    if not done.wait(timeout):
        return fallback
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


class IOWatch:
    """One FolderIO per folder, and the thread that watches them."""

    def __init__(self, *, interval: float = CHECK_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._folders: dict[str, FolderIO] = {}
        self._sink: AvailabilitySink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def folder(self, key: str, timeout: float) -> FolderIO:
        with self._lock:
            io = self._folders.get(key)
            if io is None:
                io = self._folders[key] = FolderIO(key, timeout, clock=self._clock)
            io.timeout = timeout
            return io

    def get(self, key: str) -> FolderIO | None:
        with self._lock:
            return self._folders.get(key)

    def remove(self, key: str) -> None:
        with self._lock:
            self._folders.pop(key, None)

    def not_responding(self) -> dict[str, float]:
        """Folders not responding, with the monotonic time since when."""
        with self._lock:
            folders = list(self._folders.values())
        return {io.key: io.not_responding_since for io in folders
                if io.not_responding_since is not None}

    def start(self, sink: AvailabilitySink) -> None:
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="io-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def check(self) -> None:
        """One round (the thread calls it every ``interval``; tests call it directly)."""
        now = self._clock()
        with self._lock:
            folders = list(self._folders.values())
        for io in folders:
            stalled = io.stall(now)
            hung = stalled is not None and stalled[0] >= io.timeout
            if hung and not io.not_responding:
                assert stalled is not None
                seconds, where = stalled
                io.not_responding_since = now - seconds
                reason = (f"a filesystem call ({where}) has not returned for {seconds:.0f}s: "
                          "a hung file server? (the README names mount options that turn a "
                          "hang into an error)")
                log.error("folder.not_responding", folder=io.key, seconds=round(seconds),
                          where=where)
                if self._sink is not None:
                    self._sink.folder_unavailable(io.key, reason, source="io")
            elif not hung and io.not_responding and (stalled is None
                                                     or stalled[0] < self.interval * 2):
                since = io.not_responding_since or now
                io.not_responding_since = None
                log.info("folder.responding", folder=io.key, after=round(now - since))
                if self._sink is not None:
                    self._sink.folder_available(io.key, source="io")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watchdog must outlive any one bad round
                log.exception("iowatch.failed")
