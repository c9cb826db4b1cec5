"""The uploads of one pass, run on the transfer pool (:mod:`plane_sync.sync.transfers`).

The engine hands each planned upload to :meth:`PassUploads.add` instead of uploading it in
line, and calls :meth:`PassUploads.finish` once the plan is through: that waits for the
uploads and merges what each did into the pass's report. Each upload runs exactly the code a
sequential pass runs (the engine's ``upload`` function: the journal and intent rows of one
upload are its own, in a database shared under a lock), so the journal stays exact with any
number of workers.

- **Stopping** (pause, SIGTERM): an upload that has not started when the pass's stop flag is
  set does not start; it waits for the next pass, like the rest of the plan.
- **Trouble** (the key rejected, Plane unreachable, the daemon's server errors): the first
  upload that raises cancels the ones that have not started; the pass waits for those
  running and raises it, as a sequential pass would have.
- **Large files in the daemon** (``detach_large``): a file in the pool's large lane is not
  waited for. The pass reports it in ``background`` and goes on, so one large
  file on a slow link holds back neither small files nor other folders; when it ends,
  ``on_background_done`` tells the daemon (which passes over that folder again: the listing
  then shows it). Until then any pass finds the file busy in the pool and leaves it.
- **A share that hangs** (the daemon's I/O watchdog, :mod:`plane_sync.local.iowatch`): a
  worker's reads of the file count for the folder, in the scope of the pass that planned the
  upload, so a read that does not return stalls that pass as if it had made it; once the pass
  is abandoned its uploads that have not started raise ``FolderNotResponding`` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from plane_sync.core.reconcile import Upload
from plane_sync.local import iowatch
from plane_sync.local.iowatch import FolderNotResponding
from plane_sync.sync.bandwidth import Bandwidth
from plane_sync.sync.outcome import STOPPED_BEFORE, PassReport, StopFlag
from plane_sync.sync.targets import Target
from plane_sync.sync.transfers import Ticket, TransferPool

UploadOne = Callable[[Target, Upload, PassReport], None]
BackgroundDone = Callable[[Target, PassReport, BaseException | None], None]
_running = threading.local()  # the UploadJob a worker thread runs, for its byte count


def _ignore(target: Target, report: PassReport, error: BaseException | None) -> None:
    pass


@dataclass(frozen=True)
class Transfers:
    """How the engine runs its uploads in parallel."""

    pool: TransferPool
    bandwidth: Bandwidth | None = None  # max_upload_rate
    detach_large: bool = False  # the daemon: large files go on while passes go on
    on_background_done: BackgroundDone = _ignore
    # The stop flag of one target's uploads (the daemon: stopping, or that folder paused);
    # None: the pass's own.
    stop_for: Callable[[Target], StopFlag] | None = None


class UploadJob:
    """One planned upload as a job of the pool; its outcome lands in its own report."""

    def __init__(self, target: Target, action: Upload, upload: UploadOne,
                 stop: StopFlag | None) -> None:
        self.target = target
        self.action = action
        self.key = ("upload", target.key, action.file.rel_path)
        self.size = action.file.size
        self.report = PassReport(target.key, target.label, str(target.root))
        self.sent = 0  # bytes sent to storage so far (for the live status)
        self.started_at: float | None = None  # wall clock
        self.succeeded: bool | None = None  # for the pool (see transfers): uploaded or failed
        self._upload = upload
        self._stop = stop
        self._io, self._scope = iowatch.current()  # the planning pass's (module docstring)

    def run(self) -> None:
        if self._stop is not None and self._stop.is_set():
            self.report.stopped = True
            self.report.waiting.append((self.action.file.rel_path, STOPPED_BEFORE))
            return
        if self._scope is not None and self._scope.abandoned:
            raise FolderNotResponding(f"{self.target.root}: its pass was given up on")
        self.started_at = time.time()
        _running.job = self
        try:
            with iowatch.using(self._io, self._scope):
                self._upload(self.target, self.action, self.report)
        finally:
            _running.job = None
        report = self.report
        if report.uploaded:
            self.succeeded = True
        elif report.failed or report.paused:
            self.succeeded = False


def count_sent(nbytes: int) -> None:
    """A chunk went to storage from this thread: count it to the job it runs, if any."""
    job: UploadJob | None = getattr(_running, "job", None)
    if job is not None:
        job.sent += nbytes


class PassUploads:
    def __init__(self, transfers: Transfers, upload: UploadOne,
                 stop: StopFlag | None) -> None:
        self.transfers = transfers
        self._upload = upload
        self._stop = stop
        self._tickets: list[Ticket] = []
        self._lock = threading.Lock()

    def add(self, target: Target, action: Upload, report: PassReport) -> None:
        pool = self.transfers.pool
        stop = self.transfers.stop_for(target) if self.transfers.stop_for else self._stop
        job = UploadJob(target, action, self._upload, stop)
        if pool.busy(job.key):  # started by an earlier pass, still going
            report.background.append((action.file.rel_path, job.size))
            return
        if self.transfers.detach_large and job.size >= pool.large:
            done = self.transfers.on_background_done
            pool.submit(job, on_done=lambda t: done(target, job.report, t.error))
            report.background.append((action.file.rel_path, job.size))
            return
        with self._lock:
            self._tickets.append(pool.submit(job, on_done=self._ended))

    def _ended(self, ticket: Ticket) -> None:
        """On the worker: trouble stops the pass's uploads that have not started."""
        if ticket.error is not None:
            with self._lock:
                tickets = list(self._tickets)
            self.transfers.pool.cancel(tickets)

    def finish(self, report: PassReport) -> None:
        """Wait for the pass's uploads and merge what they did into ``report``; raise what
        the first of them raised."""
        with self._lock:
            tickets = list(self._tickets)
        try:
            for ticket in tickets:
                ticket.wait()
        except BaseException:  # Ctrl-C in `sync`: what has not started never will
            self.transfers.pool.cancel(tickets)
            raise
        error: BaseException | None = None
        for ticket in tickets:
            job = ticket.job
            assert isinstance(job, UploadJob)
            if ticket.cancelled:
                report.stopped = True
                report.waiting.append((job.action.file.rel_path, STOPPED_BEFORE))
                continue
            merge(job.report, report)
            if ticket.error is not None and error is None:
                error = ticket.error
        if error is not None:
            raise error


def merge(part: PassReport, into: PassReport) -> None:
    """What one upload did, added to its pass's report."""
    into.uploaded += part.uploaded
    into.deleted += part.deleted
    into.kept += part.kept
    into.skipped += part.skipped
    into.failed += part.failed
    into.waiting += part.waiting
    for path, when in part.next_check.items():
        into.next_check[path] = min(when, into.next_check.get(path, when))
    into.paused = into.paused or part.paused
    into.stopped = into.stopped or part.stopped
