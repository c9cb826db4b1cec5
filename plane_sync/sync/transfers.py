"""A small pool of transfer workers: uploads now, downloads too (issue 11), one queue.

Plane's rate limit, not the CPU, bounds a sync; but one transfer at a time also waits on
every round trip and on every slow byte. A few workers (``upload_workers``, 4 by default)
keep the limiter's window full and let a large file go on while small ones pass it. They all
share the one rate limiter of the API key (:mod:`plane_sync.remote.ratelimit`) and, if set,
one bandwidth cap (:mod:`plane_sync.sync.bandwidth`).

A :class:`Job` is anything with a ``key`` (what it moves: at most one job per key is queued
or running, so two passes never send the same file twice), a ``size`` in bytes, and a
``run()`` that does the transfer and records its outcome itself; what ``run()`` raises is
kept on the job's :class:`Ticket` for the submitter. The pool knows nothing of uploads.

Two lanes keep a large file from blocking small ones: a job of ``large`` bytes or more waits
while as many large jobs run as leave one worker for the small ones; a small job never waits
behind a large one. Within a lane, first come, first served.

**One at a time until one succeeds.** A job may say how it went (``succeeded``: True, False,
or None for "says nothing", e.g. it had nothing to send). The pool starts with one job at a
time and opens to every worker once a job succeeded; after a job failed (or raised) it runs one
at a time again until the next success. So when the storage host refuses every upload (expired
policies, an outage), finding out costs one file, not one per worker, and the failure it
records (a pause, a retry time) holds the next jobs back before they send anything.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

LARGE = 1024 * 1024  # bytes: a file this big takes the large lane


def start_daemon_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class Job(Protocol):
    @property
    def key(self) -> Hashable: ...

    @property
    def size(self) -> int: ...

    def run(self) -> None: ...


def succeeded(job: Job) -> bool | None:
    """How a job that returned went, if it says (its ``succeeded`` attribute)."""
    verdict = getattr(job, "succeeded", None)
    return verdict if isinstance(verdict, bool) else None


class Ticket:
    """A submitted job: wait for it, see what it raised, or cancel it before it starts."""

    def __init__(self, job: Job, on_done: Callable[[Ticket], None] | None) -> None:
        self.job = job
        self.error: BaseException | None = None
        self.cancelled = False
        self.started = False
        self._on_done = on_done
        self._done = threading.Event()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _finish(self) -> None:
        self._done.set()
        if self._on_done is not None:
            try:
                self._on_done(self)
            except Exception:  # a callback's bug must not kill a worker
                log.exception("transfer.callback_failed")


class TransferPool:
    def __init__(self, workers: int, *, large: int = LARGE, name: str = "transfer",
                 start_thread: Callable[[Callable[[], None], str], threading.Thread]
                 = start_daemon_thread) -> None:
        """``start_thread(target, name)`` starts a worker (the daemon's keeps signals to its
        main thread)."""
        if workers < 1:
            raise ValueError("a transfer pool needs at least one worker")
        self.workers = workers
        self.large = large
        self.max_large = max(1, workers - 1)
        self._name = name
        self._start_thread = start_thread
        self._cond = threading.Condition()
        self._small: deque[Ticket] = deque()
        self._big: deque[Ticket] = deque()
        self._keys: dict[Hashable, Ticket] = {}  # queued or running
        self._running_large = 0
        self._running = 0
        self._open = False  # every worker may run a job: the last verdict was a success
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- the submitter's side ---------------------------------------------------------------

    def submit(self, job: Job, on_done: Callable[[Ticket], None] | None = None) -> Ticket:
        """Queue ``job``; ``on_done(ticket)`` runs on the worker once it ended (or at once,
        cancelled, when the pool is closed)."""
        ticket = Ticket(job, on_done)
        with self._cond:
            if self._closed:
                ticket.cancelled = True
            else:
                if job.key in self._keys:
                    raise ValueError(f"a job for {job.key!r} is already queued or running")
                self._keys[job.key] = ticket
                (self._big if job.size >= self.large else self._small).append(ticket)
                self._grow()
                self._cond.notify()
        if ticket.cancelled:
            ticket._finish()
        return ticket

    def busy(self, key: Hashable) -> bool:
        """Whether a job for ``key`` is queued or running."""
        with self._cond:
            return key in self._keys

    def cancel(self, tickets: Iterable[Ticket]) -> list[Ticket]:
        """Take the jobs of ``tickets`` that have not started out of the queue; returns
        those (marked cancelled and done)."""
        dropped = []
        with self._cond:
            for ticket in tickets:
                if ticket.started or ticket.done():
                    continue
                for lane in (self._small, self._big):
                    if ticket in lane:
                        lane.remove(ticket)
                self._keys.pop(ticket.job.key, None)
                ticket.cancelled = True
                dropped.append(ticket)
        for ticket in dropped:
            ticket._finish()
        return dropped

    def resize(self, workers: int) -> None:
        """Run up to ``workers`` jobs at once from now on (a reloaded ``upload_workers``);
        a worker over the number leaves once its job is done."""
        if workers < 1:
            raise ValueError("a transfer pool needs at least one worker")
        with self._cond:
            self.workers = workers
            self.max_large = max(1, workers - 1)
            while self._waiting() and len(self._threads) < workers:
                self._grow()
            self._cond.notify_all()

    def _waiting(self) -> bool:
        return bool(self._small or self._big)

    def running(self) -> list[Job]:
        with self._cond:
            return [t.job for t in self._keys.values() if t.started]

    def queued(self) -> list[Job]:
        """Jobs waiting for a worker, small ones first."""
        with self._cond:
            return [t.job for t in (*self._small, *self._big)]

    def close(self, timeout: float | None = None) -> None:
        """Cancel what has not started, let what runs finish (up to ``timeout`` seconds),
        and stop the workers."""
        with self._cond:
            self._closed = True
            queued = [*self._small, *self._big]
        self.cancel(queued)
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- the workers ------------------------------------------------------------------------

    def _grow(self) -> None:
        """One more worker thread while jobs wait and fewer than ``workers`` exist
        (called holding the lock)."""
        if len(self._threads) < self.workers:
            number = len(self._threads) + 1
            self._threads.append(self._start_thread(self._work, f"{self._name}-{number}"))

    def _next(self) -> Ticket | None:
        """The next job a free worker may take (holding the lock): a small one first; one
        at a time until a job succeeded (module docstring)."""
        if not self._open and self._running:
            return None
        if self._small:
            self._running += 1
            return self._small.popleft()
        if self._big and self._running_large < self.max_large:
            self._running_large += 1
            self._running += 1
            return self._big.popleft()
        return None

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                if len(self._threads) > self.workers:  # resized down: leave
                    self._threads.remove(me)
                    return
                ticket = self._next()
                while ticket is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    if len(self._threads) > self.workers:
                        self._threads.remove(me)
                        return
                    ticket = self._next()
                ticket.started = True
            verdict: bool | None = False
            try:
                ticket.job.run()
                verdict = succeeded(ticket.job)
            except BaseException as exc:  # kept for the submitter, who decides
                ticket.error = exc
            finally:
                with self._cond:
                    self._keys.pop(ticket.job.key, None)
                    self._running -= 1
                    if ticket.job.size >= self.large:
                        self._running_large -= 1
                    if verdict is not None:
                        self._open = verdict
                    self._cond.notify_all()
                ticket._finish()
