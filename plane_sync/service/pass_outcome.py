"""What the daemon's loop does with the report of a pass that ran: when the target is looked
at again, and what is remembered of it.

- A pass that listed the work item counts as its re-check (:mod:`plane_sync.service.recheck`)
  and, if one was due, its verify (a pass that does not list cannot verify).
- The folder's Settler forgets the paths the pass did not look at; the pass governor
  (:mod:`plane_sync.service.passes`) counts the pass.
- Files still settling are looked at again after the folder's growing settle delay; waits with
  a time of their own (someone else's pending upload, paused uploads) and failed files with a
  retry time, when the first of them is due: not on every pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from plane_sync.service.folders import FolderRun
from plane_sync.service.live import LiveStatus
from plane_sync.service.passes import PassGovernor
from plane_sync.service.recheck import Rechecks
from plane_sync.service.scheduler import Scheduler
from plane_sync.sync.outcome import PassReport
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)


@dataclass
class PassOutcome:
    schedule: Scheduler
    governor: PassGovernor
    rechecks: Rechecks
    live: LiveStatus
    stop: threading.Event
    verify_due: set[str]  # targets whose next listing pass also verifies
    on_pass: Callable[[PassReport], None] | None = None

    def record(self, target: Target, run: FolderRun, report: PassReport, state: StateDB, *,
               started: float, settle_mark: float) -> None:
        """``report`` is what the pass over ``target`` (of folder ``run``) did; it started
        at ``started`` (monotonic) and its Settler mark is ``settle_mark``."""
        later = time.monotonic()
        if report.listed:  # verified too, if due (a pass that does not list cannot)
            self.rechecks.listed(target.key, later)
            self.verify_due.discard(target.key)
        # One line per pass (debug): lets a soak test hold passes against list requests.
        log.debug("sync.pass", folder=str(target.root), work_item=target.label,
                  uploaded=len(report.uploaded), deleted=len(report.deleted),
                  failed=len(report.failed), waiting=len(report.waiting),
                  listed=report.listed, hashed=report.hashed,
                  hashed_bytes=report.hashed_bytes, cpu_ms=round(report.cpu_seconds * 1000),
                  ms=round((later - started) * 1000))
        if report.unavailable is None and report.error is None:
            run.settler.end(target.key, settle_mark)  # forget files gone or vouched for
        self.governor.record(target.key, started, report,
                             rescan_interval=target.folder.rescan_interval)
        waiting = {path for path, _ in report.waiting}
        if waiting and not self.stop.is_set():
            if waiting - set(report.next_check):
                # Look again once the files had time to settle.
                self.schedule.mark(target.key, later + run.recheck_delay(target.key))
                self.governor.note_trigger(target.key, "files still settling",
                                           claims_change=True)
            self.schedule.mark_retry(target.key, later, list(report.next_check.values()))
        else:
            run.nothing_waiting(target.key)
        if report.failed:  # come back when the first failed file's retry is due
            self.schedule.mark_retry(target.key, later, [
                f.next_retry_at for f in state.failures(target.key)
                if not f.permanent and f.next_retry_at is not None])
        self.live.pass_done(target, report)
        if self.on_pass is not None:
            self.on_pass(report)
