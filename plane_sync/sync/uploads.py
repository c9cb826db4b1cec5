"""One planned upload, and everything that may make it wait instead of being sent.

What is written before each step (the engine's recovery reads it back after a crash):

- Before each create an *intent* is written (work item + external id); right after the create
  the attachment id goes into the *journal*; both are cleared once the PATCH is done. A crash
  anywhere leaves one of them behind, and the next pass cleans up: a journalled attachment that
  is not listed is deleted (it is pending or broken); an intent without an id means the create
  may have reached Plane, so a 409 on that same external id is our own orphan: delete it and
  create again.
- A 409 on a create that had to be sent again (its first answer was lost to a timeout, a
  dropped connection or a 5xx) is ours too: the first try made it. Cleaned and redone at once.
- A 409 whose attachment is not in the listing and not ours is another machine's upload in
  flight: leave it, look again on a backoff, and take it over once it has stayed pending
  longer than a live upload would (see :mod:`plane_sync.sync.pending`).

What holds an upload back without a request:

- a failed file waits for its retry time (a minute, doubling);
- a storage host that refuses upload policies as expired refuses every file alike: the cause
  is said once (and its end once), every upload waits until the next try (5 s doubling to
  5 min, the daemon's backoff: uploads resume within seconds of the trouble ending), and that
  try is one file's;
- a file waiting on someone else's pending upload waits for its next check.

``probe`` (``sync``): a run tries one file held back by a retry time or a pause anyway, and
every one of them once an upload of the run succeeded: one file's cost while the trouble lasts,
and a run after it ended catches up at once. The daemon keeps to the times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from plane_sync.core.models import CreateConflict, UploadResult
from plane_sync.core.reconcile import Upload
from plane_sync.errors import (
    AuthError,
    FileChangedDuringUpload,
    LocalFileError,
    PlaneError,
    PlaneUnreachable,
    RateLimited,
    ServerError,
    StorageRejected,
    UploadError,
)
from plane_sync.local import iowatch
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.upload import upload_file
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.pending import PendingWait, check_delay, clock_time, takeover_after
from plane_sync.sync.recovery import Recovery
from plane_sync.sync.state import JournalEntry, Pause, StateDB
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)

EXPIRED_POLICIES = "expired-policies"  # the name of the pause on every upload

SkipFile = Callable[[Target, str, str, PassReport], None]


class Uploader:
    def __init__(self, client: PlaneClient, state: StateDB, recovery: Recovery, *,
                 external_source: str, clock: Callable[[], float] = time.time,
                 progress: Progress, raise_server_errors: bool, probe: bool,
                 skip: SkipFile) -> None:
        self.client = client
        self.state = state
        self.recovery = recovery
        self.external_source = external_source
        self.clock = clock
        self.progress = progress
        # True (the daemon): a 5xx/429 left after the client's retries, or a storage host
        # that fails (see _storage_trouble), is the server's trouble, not the file's: raise
        # it (the caller backs off) instead of parking the file on its retry schedule.
        self.raise_server_errors = raise_server_errors
        self.probe = probe
        self.skip = skip  # a file refused for a reason of its own (unreadable, too large)
        self.size_limit = 0  # the engine sets it for each pass
        self._run_succeeded = False
        self._probe_spent = False
        self._probe_lock = threading.Lock()

    def upload(self, target: Target, action: Upload, report: PassReport) -> bool:
        """Upload ``action``'s file, or say in ``report`` why it failed or waits; True when
        uploaded (the caller then deletes the versions it replaces)."""
        file = action.file
        now = self.clock()
        if not self.state.should_retry(target.key, file.rel_path, now) \
                and not self._may_probe():
            failure = next((f for f in self.state.failures(target.key)
                            if f.rel_path == file.rel_path), None)
            reason = failure.reason if failure else "waiting to retry"
            if failure is not None and failure.next_retry_at is not None:
                reason += f" (next try {clock_time(failure.next_retry_at)})"
            report.failed.append((file.rel_path, reason))
            return False
        if self._held_back(target, file.rel_path, file.size, now, report):
            return False
        self.progress.on_file_start(file.rel_path, file.size)
        try:
            result = self._once(target, action, retry_orphan=True)
        except (AuthError, PlaneUnreachable):
            raise
        except FileChangedDuringUpload as exc:
            report.waiting.append((file.rel_path, exc.message))
            return False
        except LocalFileError as exc:
            if exc.reason in ("changed", "missing"):
                report.waiting.append((file.rel_path, exc.message))
            else:
                self.skip(target, file.rel_path, exc.message, report)
            return False
        except StorageRejected as exc:
            if exc.expired_policy:
                self._pause_all(target, file.rel_path, exc, now, report)
                return False
            if self.raise_server_errors and _storage_trouble(exc):
                raise
            self._failed(target, file.rel_path, exc, now, report)
            return False
        except (UploadError, PlaneError) as exc:
            cause = exc if isinstance(exc, PlaneError) else exc.__cause__
            if self.raise_server_errors and isinstance(cause, ServerError | RateLimited):
                raise cause from exc
            if self.raise_server_errors and isinstance(exc, UploadError) \
                    and _storage_trouble(exc):
                raise
            self._failed(target, file.rel_path, exc, now, report)
            return False
        if isinstance(result, PendingWait):
            report.wait(file.rel_path, result.reason, result.next_check)
            return False
        self._run_succeeded = True
        lifted = self.state.lift_pause(EXPIRED_POLICIES)
        if lifted is not None:
            log.info("upload.policies_accepted", folder=str(target.root), path=file.rel_path,
                     paused_for=round(now - lifted.since), tries=lifted.attempts)
        self.state.clear_failure(target.key, file.rel_path)
        # Only this file's: the others' first sightings time their takeover.
        for pending in self.state.pending(target.key):
            if pending.rel_path == file.rel_path:
                self.state.clear_pending(target.key, pending.attachment_id)
        report.uploaded.append((file.rel_path, result.bytes_sent))
        self.progress.on_file_done(file.size)
        log.info("upload.done", folder=str(target.root), path=file.rel_path,
                 work_item=target.label, bytes=result.bytes_sent,
                 ms=round(result.seconds * 1000))
        return True

    def _pause_all(self, target: Target, rel_path: str, exc: StorageRejected, now: float,
                   report: PassReport) -> None:
        """Every other file would be refused the same way: say why once, and let every
        upload wait for the next try (one file's: create + delete, 2 requests)."""
        pause = self.state.pause(EXPIRED_POLICIES, exc.cause or exc.message, now)
        self._probe_spent = True  # this file was the run's try
        # Said once when it starts (and once when it ends, in upload); a later try that meets
        # it again only moves the next try. A warning, as any Plane trouble waited out.
        (log.warning if pause.attempts == 1 else log.debug)(
            "upload.policies_expired", folder=str(target.root), path=rel_path,
            error=exc.message, attempts=pause.attempts, next_try=clock_time(pause.next_try))
        report.paused = _paused(pause)
        report.wait(rel_path, f"upload refused (expired policy); next try "
                    f"{clock_time(pause.next_try)}", pause.next_try)

    def _failed(self, target: Target, rel_path: str, exc: Exception, now: float,
                report: PassReport) -> None:
        self._probe_spent = True  # trouble this run: files waiting for their time wait on
        failure = self.state.record_failure(target.key, rel_path, str(exc), now=now)
        log.error("upload.failed", folder=str(target.root), path=rel_path,
                  work_item=target.label, error=str(exc), attempts=failure.attempts)
        report.failed.append((rel_path, str(exc)))

    def _held_back(self, target: Target, rel_path: str, size: int, now: float,
                   report: PassReport) -> bool:
        """Whether this upload waits without a request: every upload is paused (expired
        policies), or the file waits on someone else's pending upload until its next check."""
        for pause in self.state.pauses():
            if pause.next_try > now and not self._may_probe():
                report.paused = _paused(pause)
                report.wait(rel_path, f"not tried: uploads are paused until "
                            f"{clock_time(pause.next_try)}", pause.next_try)
                return True
        pending = self.state.pending_for(target.key, rel_path)
        if pending is not None and pending.next_check is not None and pending.next_check > now:
            wait = PendingWait(pending.attachment_id, pending.next_check,
                               pending.first_seen + takeover_after(size))
            report.wait(rel_path, wait.reason, wait.next_check)
            return True
        return False

    def _may_probe(self) -> bool:
        """Whether an upload waiting for a retry time may be tried now (see ``probe``)."""
        if not self.probe:
            return False
        with self._probe_lock:  # upload workers ask at once: one probe, not one each
            if self._run_succeeded:
                return True
            if self._probe_spent:
                return False
            self._probe_spent = True
            return True

    def _once(self, target: Target, action: Upload, *,
              retry_orphan: bool) -> UploadResult | PendingWait:
        """Upload; a PendingWait when another machine's pending upload of the same content
        is in the way and is left to it for now."""
        file = action.file
        work_item = target.work_item
        key = (work_item.id, action.external_id)
        self.state.intent_add(target.key, work_item.id, action.external_id, file.rel_path,
                              self.clock())
        created: list[str] = []

        def journal(attachment_id: str) -> None:
            created.append(attachment_id)
            self.state.journal_add(JournalEntry(
                attachment_id=attachment_id, folder_key=target.key,
                project_id=work_item.project_id, work_item_id=work_item.id,
                rel_path=file.rel_path, external_id=action.external_id,
                created_at=self.clock()))

        try:
            # root: the file is opened through the folder's directory chain, refusing a
            # directory swapped for a symlink since the scan (nothing outside is ever read).
            result = upload_file(
                self.client, work_item, file.rel_path, root=target.root, name=action.name,
                mime_type=action.mime_type, size=file.size, sha256=file.sha256,
                external_id=action.external_id, external_source=self.external_source,
                size_limit=self.size_limit, on_created=journal,
                on_progress=self.progress.on_bytes, read_guard=iowatch.fs_section)
        except LocalFileError:
            # Refused before anything was sent to Plane: there is nothing to remember.
            self.state.intent_remove(*key)
            raise
        except UploadError as exc:
            if exc.step == "storage" and created:
                # upload_file has deleted the pending attachment; were that to have failed,
                # the intent below still marks a 409 on this id as ours. (A failed PATCH
                # leaves the attachment journalled for the next pass to delete.)
                self.state.journal_remove(created[-1])
            # The create may have reached Plane (an answer lost, a clean-up that failed):
            # keep the intent, and treat a 409 on this id as ours in this process too.
            self.recovery.orphans.add(key)
            raise
        except PlaneError:
            self.recovery.orphans.add(key)  # AuthError / PlaneUnreachable: same reasoning
            raise
        if isinstance(result, CreateConflict):
            return self._conflict(target, action, result, retry_orphan=retry_orphan)
        self.state.journal_remove(result.attachment_id)
        self.state.intent_remove(*key)
        self.recovery.orphans.discard(key)
        return result

    def _conflict(self, target: Target, action: Upload, conflict: CreateConflict, *,
                  retry_orphan: bool) -> UploadResult | PendingWait:
        """Plane already has an attachment with this external id that the listing did not
        show, so it is pending: ours (a crash, or our create whose answer was lost and that
        was sent again), or another machine's in flight."""
        work_item = target.work_item
        key = (work_item.id, action.external_id)
        now = self.clock()
        first_seen = now
        checks = 0
        for pending in self.state.pending(target.key):
            if pending.attachment_id == conflict.existing_id:
                first_seen, checks = pending.first_seen, pending.checks
        ours = key in self.recovery.orphans or conflict.after_resend
        takeover_at = first_seen + takeover_after(action.file.size)
        if retry_orphan and (ours or now >= takeover_at):
            why = ("our own create, sent again after its answer was lost"
                   if conflict.after_resend else "left by our own crash" if ours
                   else "pending for longer than a live upload takes")
            log.info("upload.takeover", path=action.file.rel_path, work_item=target.label,
                     attachment_id=conflict.existing_id, why=why)
            self.client.delete_attachment(work_item, conflict.existing_id)
            self.recovery.orphans.discard(key)
            self.state.clear_pending(target.key, conflict.existing_id)
            return self._once(target, action, retry_orphan=False)
        self.state.intent_remove(work_item.id, action.external_id)
        self.state.note_pending(target.key, action.file.rel_path, conflict.existing_id,
                                first_seen)
        next_check = min(now + check_delay(checks), takeover_at)
        self.state.schedule_pending_check(target.key, conflict.existing_id, next_check)
        log.info("upload.waiting", path=action.file.rel_path, work_item=target.label,
                 attachment_id=conflict.existing_id, next_check=clock_time(next_check),
                 takeover_at=clock_time(takeover_at))
        return PendingWait(conflict.existing_id, next_check, takeover_at)


def _paused(pause: Pause) -> str:
    return (f"uploads paused until {clock_time(pause.next_try)}: the storage host refuses "
            f"Plane's upload policies as expired. {pause.reason}")


def _storage_trouble(exc: UploadError) -> bool:
    """Whether the storage host, not this file, made the upload fail: it kept answering
    5xx or could not be reached (expired policies are a pause of their own, see above).
    Any other file would fail the same way, so the daemon backs off as a whole instead of
    parking the file on the per-file schedule (a minute, doubling up to hours)."""
    if isinstance(exc, StorageRejected):
        return exc.status >= 500
    # A plain storage-step UploadError: the storage host could not be reached.
    return type(exc) is UploadError and exc.step == "storage"
