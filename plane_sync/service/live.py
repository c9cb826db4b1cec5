"""What the running daemon is doing, in memory, for ``plane-sync status`` and the metrics.

The worker (the daemon's loop) writes: each target's last pass (what
waits, what is held, whether the pass went through the whole folder) and, once per loop
turn, a copy of its folders and their schedule (:meth:`LiveStatus.publish`). The uploads in
flight (bytes done) and those queued are read from the transfer pool at snapshot time (its
own lock); without one, from the engine's progress hooks. The control
socket and the metrics server read a :meth:`LiveStatus.snapshot` from their own threads.
Everything sits behind one lock and nothing here touches the disk or the network, so a
reader is never held up by a slow share or by Plane: a worker stuck in either shows as an
upload whose bytes stop moving and a ``worker_idle_seconds`` that grows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plane_sync.service.eta import REQUESTS_PER_UPLOAD, Pace
from plane_sync.service.folders import FolderRun
from plane_sync.service.pauses import Pauses
from plane_sync.service.scheduler import Scheduler
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.parallel import UploadJob
from plane_sync.sync.targets import Target
from plane_sync.sync.transfers import TransferPool

RateUsage = Callable[[], tuple[int, int, float]]


@dataclass
class _Upload:
    label: str
    folder: str
    path: str
    size: int
    done: int = 0
    started_at: float = field(default_factory=time.time)


@dataclass
class _TargetLive:
    label: str
    root: str
    waiting: list[tuple[str, str]] = field(default_factory=list)
    failed: int = 0
    held: str | None = None
    last_pass_at: float | None = None
    last_complete_at: float | None = None
    problem: str | None = None  # unavailable / work item not listed


class LiveStatus:
    def __init__(self, *, activity: Callable[[], str] = lambda: "",
                 pauses: Pauses | None = None, rate_usage: RateUsage | None = None,
                 worker_alive_at: Callable[[], float] | None = None) -> None:
        self.activity = activity  # the worker's activity line (one attribute read)
        self.pauses = pauses  # asked at snapshot time: a pause shows at once
        self.rate_usage = rate_usage
        self.pace: Callable[[], Pace] | None = None  # what bounds the uploads' speed now
        self.rate_source: Callable[[], str] | None = None  # "server", "configured", ...
        self.transfers: TransferPool | None = None  # the daemon's upload workers
        self.worker_alive_at = worker_alive_at  # monotonic time of the worker's last sign
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._upload: _Upload | None = None
        self._target: Target | None = None
        self._queued_files = self._queued_bytes = 0
        self._targets: dict[str, _TargetLive] = {}
        self._folders: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()  # uploads, bytes, failures:<kind>

    # -- the worker's side ------------------------------------------------------------------

    def progress(self, inner: Progress) -> Progress:
        """The engine's progress hooks: record here, then pass on to ``inner``."""
        def plan(files: int, nbytes: int) -> None:
            with self._lock:
                self._queued_files, self._queued_bytes = files, nbytes
            inner.on_plan(files, nbytes)

        def start(rel_path: str, size: int) -> None:
            with self._lock:
                target = self._target
                self._upload = _Upload(target.label if target else "?",
                                       str(target.root) if target else "?", rel_path, size)
                self._queued_files = max(self._queued_files - 1, 0)
                self._queued_bytes = max(self._queued_bytes - size, 0)
            inner.on_file_start(rel_path, size)

        def sent(nbytes: int) -> None:
            with self._lock:
                if self._upload is not None:
                    self._upload.done += nbytes
            inner.on_bytes(nbytes)

        def done(nbytes: int) -> None:
            with self._lock:
                self._upload = None
                self.counters["uploads"] += 1
                self.counters["bytes"] += nbytes
            inner.on_file_done(nbytes)

        return Progress(on_plan=plan, on_file_start=start, on_bytes=sent, on_file_done=done)

    def pass_started(self, target: Target) -> None:
        with self._lock:
            self._target = target
            self._queued_files = self._queued_bytes = 0

    def pass_done(self, target: Target, report: PassReport) -> None:
        """A pass is *complete* when it went through the whole folder (not stopped, not
        paused, the folder there, the work item listed); failed files do not make it
        incomplete."""
        complete = not (report.stopped or report.unavailable or report.error)
        now = time.time()
        with self._lock:
            self._target, self._upload = None, None
            self._queued_files = self._queued_bytes = 0
            live = self._targets.setdefault(target.key,
                                            _TargetLive(target.label, str(target.root)))
            live.waiting = list(report.waiting)
            live.failed, live.held, live.last_pass_at = len(report.failed), report.held, now
            live.problem = report.unavailable or report.error
            if complete:
                live.last_complete_at = now
            self.counters["failures:file"] += len(report.failed)
            if report.unavailable:
                self.counters["failures:folder_unavailable"] += 1
            if report.error:
                self.counters["failures:work_item"] += 1

    def pass_failed(self, kind: str) -> None:
        """A pass cut short by Plane or the storage host (the daemon backs off)."""
        with self._lock:
            self._target, self._upload = None, None
            self.counters[f"failures:{kind}"] += 1

    def forget(self, target_key: str) -> None:
        with self._lock:
            self._targets.pop(target_key, None)

    def publish(self, folders: dict[str, FolderRun], schedule: Scheduler) -> None:
        """A copy of the worker's folders and schedule, for readers."""
        mono, wall = time.monotonic(), time.time()

        def wall_of(when: float | None) -> float | None:
            return None if when is None else wall + max(when - mono, 0.0)

        views = []
        for run in folders.values():
            path = str(run.folder.path)
            views.append({
                "key": run.folder.key, "path": path, "watch_mode": run.watch_mode,
                "available": run.available, "resolved": run.resolved,
                "next_rescan_at": wall_of(run.next_rescan),
                "rescan_interval": run.folder.rescan_interval,
                "targets": [{"key": key, "label": t.label, "root": str(t.root),
                             "next_pass_at": wall_of(schedule.when(key))}
                            for key, t in run.targets.items()],
                "problems": [{"path": str(p.path), "work_item": p.label, "kind": p.kind,
                              "reason": p.reason} for p in run.problems],
            })
        with self._lock:
            self._folders = views

    # -- the readers' side ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything known now, as plain JSON data."""
        with self._lock:
            uploads = [] if self._upload is None else [dict(vars(self._upload))]
            folders = [dict(f, targets=[dict(t) for t in f["targets"]]) for f in self._folders]
            for folder in folders:
                pauses, path = self.pauses, folder["path"]
                folder["paused"] = pauses is not None and pauses.is_paused(path)
                folder["paused_since"] = pauses.since(path) if pauses is not None else None
                for t in folder["targets"]:
                    live = self._targets.get(t["key"])
                    t.update(_target_fields(live))
            queued_files, queued_bytes = self._queued_files, self._queued_bytes
            counters = dict(self.counters)
        if self.transfers is not None:
            uploads, queued_files, queued_bytes = _pool_view(self.transfers)
        activity = self.activity()
        used, limit, window = self.rate_usage() if self.rate_usage else (0, 0, 0.0)
        idle = None
        if self.worker_alive_at is not None:
            idle = round(time.monotonic() - self.worker_alive_at(), 1)
        pace = self.pace() if self.pace is not None else (
            Pace(limit / window) if limit else None)
        eta = pace.seconds(queued_files, queued_bytes) if pace is not None else None
        return {
            "activity": activity, "started_at": self.started_at,
            "worker_idle_seconds": idle, "upload": uploads[0] if uploads else None,
            "uploads": uploads,
            "queue": {"files": queued_files, "bytes": queued_bytes,
                      "eta_seconds": None if eta is None else round(eta, 1),
                      "requests_per_file": REQUESTS_PER_UPLOAD,
                      "requests_per_minute": None if pace is None
                      else round(pace.requests_per_second * 60, 1),
                      "workers": None if pace is None else pace.workers},
            "rate": {"used": used, "limit": limit, "window_seconds": window,
                     "source": self.rate_source() if self.rate_source else None},
            "counters": counters, "folders": folders,
        }


def _pool_view(pool: TransferPool) -> tuple[list[dict[str, Any]], int, int]:
    """(uploads running, files queued, bytes queued) in the transfer pool."""
    running = []
    for job in pool.running():
        if isinstance(job, UploadJob):
            target = job.target
            running.append({"label": target.label, "folder": str(target.root),
                            "path": job.action.file.rel_path, "size": job.size,
                            "done": job.sent, "started_at": job.started_at or time.time()})
    queued = pool.queued()
    return running, len(queued), sum(job.size for job in queued)


def _target_fields(live: _TargetLive | None) -> dict[str, Any]:
    if live is None:
        return {"waiting": [], "failed": 0, "held": None, "last_pass_at": None,
                "last_complete_at": None, "problem": None}
    return {"waiting": [{"path": p, "reason": r} for p, r in live.waiting],
            "failed": live.failed, "held": live.held, "last_pass_at": live.last_pass_at,
            "last_complete_at": live.last_complete_at, "problem": live.problem}
