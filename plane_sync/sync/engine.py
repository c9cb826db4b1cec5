"""One reconcile pass over one target: recover, scan, list, plan, execute, record.

A pass asked to list only if needed (``listing=False``, the daemon's passes that are not
re-checks) skips the listing, and so costs no request, when the scan is what the target's
last clean pass saw (:mod:`plane_sync.sync.unchanged`). With ``transfers`` the uploads of a
pass run on a pool of workers (:mod:`plane_sync.sync.parallel`), each exactly as below.

The remote listing is the truth; the state database only saves work and remembers intent:

- Before each create an *intent* is written (work item + external id); right after the create
  the attachment id goes into the *journal*; both are cleared once the PATCH is done. A crash
  anywhere leaves one of them behind, and the next pass cleans up: a journalled attachment that
  is not listed is deleted (it is pending or broken); an intent without an id means the create
  may have reached Plane, so a 409 on that same external id is our own orphan: delete it and
  create again.
- A 409 whose attachment is not in the listing and not ours is another machine's upload in
  flight: leave it, look again next pass, and take it over only once it has stayed pending past
  the presign expiry (one hour).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from plane_sync.core.identity import normalize_rel_path
from plane_sync.core.models import CreateConflict, RemoteAttachment, UploadResult
from plane_sync.core.reconcile import Delete, Hold, Keep, Policy, Skip, Upload, plan
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
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import ScanResult, SettledCheck, scan_folder
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.upload import upload_file
from plane_sync.sync.conditions import Conditions
from plane_sync.sync.outcome import STOPPED_BEFORE, PassReport, Progress, StopFlag
from plane_sync.sync.parallel import PassUploads, Transfers, count_sent
from plane_sync.sync.recovery import Recovery
from plane_sync.sync.state import FolderHashCache, FolderState, FolderStatus, JournalEntry, StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.unchanged import InSyncMemory, fingerprint, unchanged_report

log = structlog.get_logger(__name__)

PENDING_TAKEOVER_SECONDS = 3600.0  # Plane's presigned POST expires after one hour


class Engine:
    def __init__(self, client: PlaneClient, state: StateDB, *, size_limit: int,
                 external_source: str, dry_run: bool = False,
                 clock: Callable[[], float] = time.time,
                 progress: Progress | None = None,
                 stop: StopFlag | None = None,
                 raise_server_errors: bool = False,
                 transfers: Transfers | None = None) -> None:
        self.client = client
        self.state = state
        self.size_limit = size_limit
        self.external_source = external_source
        self.dry_run = dry_run
        self.clock = clock
        self.progress = progress or Progress()
        self.stop = stop  # set: finish the running action, start no new one
        # True (the daemon): a 5xx/429 left after the client's retries is the server's
        # trouble, not the file's: raise it (the caller backs off and comes back) instead
        # of parking the file on the per-file retry schedule (first retry after 60 s).
        # The same for a storage host that fails (see _storage_trouble) and for failed
        # deletes, which have no per-file schedule at all.
        self.raise_server_errors = raise_server_errors
        self.transfers = transfers  # None: one upload after another, in the pass
        self._hash_caches: dict[str, FolderHashCache] = {}
        self.known_clean = InSyncMemory()  # targets whose last pass left them clean
        self.conditions = Conditions(log)  # lasting ones (a hold) are said once
        self.recovery = Recovery(client, state, external_source=external_source,
                                 raise_server_errors=raise_server_errors)

    # -- one pass -------------------------------------------------------------------------

    def sync_target(self, target: Target, *, settle: float = 0.0,
                    settled: SettledCheck | None = None, listing: bool = True) -> PassReport:
        """One pass. ``settle`` (seconds of mtime age) or ``settled`` (a predicate, the
        daemon's Settler) keeps files that are still being written out of it. ``listing``
        False: ask Plane only if the folder changed since the last clean pass (module
        docstring); ``report.listed`` says whether it did."""
        report = PassReport(target.key, target.label, str(target.root))
        folder = target.folder
        seen_before = self._hash_cache(target.key).paths()  # what the last pass saw
        scan = scan_folder(target.root, IgnoreRules(folder.include, folder.exclude),
                           recurse=folder.recurse, cache=self._hash_cache(target.key),
                           settle_ns=int(settle * 1e9), settled=settled,
                           hash_limit=self.size_limit)
        if not scan.available:
            # Missing or unreadable (an unmounted share looks like this): nothing to upload
            # and nothing may be deleted, so Plane is not even asked.
            report.unavailable = scan.reason or "folder is not available"
            log.warning("folder.unavailable", folder=str(target.root), reason=report.unavailable)
            self._record_status(target, report)
            return report
        local = fingerprint(scan, self.size_limit, self.external_source)
        if not listing and not self.dry_run:
            skipped = self.known_clean.unchanged(target, local)
            if skipped is not None:  # as the last clean pass left it: Plane is not asked
                unchanged_report(report, scan, skipped)
                log.debug("sync.unchanged", folder=str(target.root), work_item=target.label)
                self._record_status(target, report)
                return report
        report.listed = True
        try:
            remote = self.client.list_attachments(target.work_item)
        except PlaneError as exc:
            if self.recovery.must_raise(exc):
                raise
            # One work item Plane will not list (deleted, no permission) must not stop the
            # other folders: report it and go on.
            report.error = str(exc)
            log.error("folder.failed", folder=str(target.root), work_item=target.label,
                      error=str(exc))
            self._record_status(target, report)
            return report
        # Files that exist but were not taken (still written, unreadable) are not gone.
        unsettled = [p.rel_path for p in scan.problems
                     if not p.is_dir and p.kind in ("changing", "unreadable")]
        if not self.dry_run:
            self.recovery.recover(target, remote)
            if _deletions_safe(scan):
                self.recovery.sweep_orphans(target, scan, set(unsettled))
        policy = Policy(external_source=self.external_source, on_change=folder.on_change,
                        on_delete=folder.on_delete, size_limit=self.size_limit,
                        folder_available=_deletions_safe(scan))
        actions = plan(scan.files, remote, policy, unsettled=unsettled)
        self._note_scan_problems(target, scan, report)
        if any(isinstance(a, Keep) for a in actions):
            seen_before = {normalize_rel_path(p) for p in seen_before}
        uploads = [a for a in actions if isinstance(a, Upload)]
        self.progress.on_plan(len(uploads), sum(u.file.size for u in uploads))
        parallel = (PassUploads(self.transfers, self._upload, self.stop)
                    if self.transfers is not None and not self.dry_run else None)
        for index, action in enumerate(actions):
            if self.stop is not None and self.stop.is_set():
                # What was not uploaded is not in sync: it waits for the next pass.
                report.stopped = True
                report.waiting += [(a.file.rel_path, STOPPED_BEFORE) for a in actions[index:]
                                   if isinstance(a, Upload)]
                break
            if isinstance(action, Upload):
                if parallel is not None:
                    parallel.add(target, action, report)
                else:
                    self._upload(target, action, report)
            elif isinstance(action, Delete):
                self._delete(target, action.attachment, action.reason, report)
            elif isinstance(action, Skip):
                self._skip(target, action.rel_path, action.reason, report)
            elif isinstance(action, Keep):
                self._keep(target, action, seen_before, report)
            elif isinstance(action, Hold):
                report.held = action.reason
        if parallel is not None:
            parallel.finish(report)  # waits for the uploads; raises what they raised
        finished = not report.stopped
        self._say_hold(target, report.held, finished)
        busy = {p for p, _ in report.uploaded} | {p for p, _ in report.failed}
        busy |= {p for p, _ in report.waiting} | {p for p, _ in report.skipped}
        busy |= {p for p, _ in report.background}
        report.in_sync = sum(1 for f in scan.files if f.rel_path not in busy)
        if scan.available and not self.dry_run:
            seen = {f.rel_path for f in scan.files}
            self.state.prune_hashes(target.key, seen)
            self._hash_cache(target.key).retain(seen)
            self.state.clear_skips_except(target.key, {p for p, _ in report.skipped})
            if finished:
                self._forget_failures(target, report)
            self.known_clean.note(target, local, report)
        self._record_status(target, report)
        return report

    def _forget_failures(self, target: Target, report: PassReport) -> None:
        """Drop failures of files that are gone, in sync or skipped now, so that status
        does not show them for ever."""
        current = {p for p, _ in report.failed} | {p for p, _ in report.waiting}
        for failure in self.state.failures(target.key):
            if failure.rel_path not in current:
                self.state.clear_failure(target.key, failure.rel_path)

    def forget_target(self, key: str) -> None:
        """Drop what is kept in memory for a target that left the configuration."""
        self._hash_caches.pop(key, None)
        self.known_clean.forget(key)

    def _hash_cache(self, key: str) -> FolderHashCache:
        # Loaded from the database once per target and kept: a daemon rescanning a large
        # folder would otherwise read every row back on every pass (measured: the warm
        # database cache made a scan 5x a plain walk, the in-memory one 2.3x).
        cache = self._hash_caches.get(key)
        if cache is None:
            cache = self._hash_caches[key] = self.state.hash_cache(key, read_only=self.dry_run)
        return cache

    # -- actions --------------------------------------------------------------------------

    def _upload(self, target: Target, action: Upload, report: PassReport) -> None:
        file = action.file
        now = self.clock()
        if self.dry_run:
            report.uploaded.append((file.rel_path, file.size))
            for old in action.replaces:  # what a real run would delete after the upload
                report.deleted.append((old.name, "replaced by a newer version"))
            return
        if not self.state.should_retry(target.key, file.rel_path, now):
            failure = next((f for f in self.state.failures(target.key)
                            if f.rel_path == file.rel_path), None)
            reason = failure.reason if failure else "waiting to retry"
            report.failed.append((file.rel_path, reason))
            return
        self.progress.on_file_start(file.rel_path, file.size)
        try:
            result = self._upload_once(target, action, retry_orphan=True)
        except (AuthError, PlaneUnreachable):
            raise
        except FileChangedDuringUpload as exc:
            report.waiting.append((file.rel_path, exc.message))
            return
        except LocalFileError as exc:
            if exc.reason in ("changed", "missing"):
                report.waiting.append((file.rel_path, exc.message))
            else:
                self._skip(target, file.rel_path, exc.message, report)
            return
        except (UploadError, PlaneError) as exc:
            cause = exc if isinstance(exc, PlaneError) else exc.__cause__
            if self.raise_server_errors and isinstance(cause, ServerError | RateLimited):
                raise cause from exc
            if self.raise_server_errors and isinstance(exc, UploadError) \
                    and _storage_trouble(exc):
                raise
            failure = self.state.record_failure(target.key, file.rel_path, str(exc), now=now)
            log.error("upload.failed", folder=str(target.root), path=file.rel_path,
                      work_item=target.label, error=str(exc), attempts=failure.attempts)
            report.failed.append((file.rel_path, str(exc)))
            return
        if result is None:
            report.waiting.append((file.rel_path, "another machine is uploading it"))
            return
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
        for old in action.replaces:
            self._delete(target, old, "replaced by a newer version", report)

    def _upload_once(self, target: Target, action: Upload, *,
                     retry_orphan: bool) -> UploadResult | None:
        """Upload; None when another machine's pending upload of the same content is in
        the way and has not yet expired."""
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
                on_progress=self._sent)
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

    def _sent(self, nbytes: int) -> None:
        """A chunk went to storage: the bandwidth cap's, then the progress display's."""
        if self.transfers is not None:
            count_sent(nbytes)
            if self.transfers.bandwidth is not None:
                self.transfers.bandwidth.take(nbytes)
        self.progress.on_bytes(nbytes)

    def _conflict(self, target: Target, action: Upload, conflict: CreateConflict, *,
                  retry_orphan: bool) -> UploadResult | None:
        """Plane already has an attachment with this external id that the listing did not
        show, so it is pending: ours from a crash, or another machine's in flight."""
        work_item = target.work_item
        key = (work_item.id, action.external_id)
        now = self.clock()
        first_seen = now
        for pending in self.state.pending(target.key):
            if pending.attachment_id == conflict.existing_id:
                first_seen = pending.first_seen
        ours = key in self.recovery.orphans
        expired = now - first_seen >= PENDING_TAKEOVER_SECONDS
        if retry_orphan and (ours or expired):
            log.info("upload.takeover", path=action.file.rel_path, work_item=target.label,
                     attachment_id=conflict.existing_id,
                     why="left by our own crash" if ours else "pending for over an hour")
            self.client.delete_attachment(work_item, conflict.existing_id)
            self.recovery.orphans.discard(key)
            self.state.clear_pending(target.key, conflict.existing_id)
            return self._upload_once(target, action, retry_orphan=False)
        self.state.intent_remove(work_item.id, action.external_id)
        self.state.note_pending(target.key, action.file.rel_path, conflict.existing_id,
                                first_seen)
        log.info("upload.waiting", path=action.file.rel_path, work_item=target.label,
                 attachment_id=conflict.existing_id)
        return None

    def _delete(self, target: Target, attachment: RemoteAttachment, reason: str,
                report: PassReport) -> None:
        if not self.dry_run:
            try:
                self.client.delete_attachment(target.work_item, attachment.id)
            except PlaneError as exc:
                if self.recovery.must_raise(exc):
                    # Nothing schedules a retry of a failed delete (only uploads have
                    # per-file failures): back off and come back, or it waits for the rescan.
                    raise
                report.failed.append((attachment.name, f"could not delete: {exc}"))
                return
            log.info("attachment.deleted", folder=str(target.root), name=attachment.name,
                     work_item=target.label, reason=reason)
        report.deleted.append((attachment.name, reason))

    def _keep(self, target: Target, action: Keep, seen_before: set[str],
              report: PassReport) -> None:
        """A file of ours is gone and its attachment stays: said on the first pass that
        misses it (``seen_before``, NFC: the last pass still hashed it), not on every
        pass after."""
        if action.rel_path not in seen_before:
            return
        report.kept.append((action.attachment.name, action.reason))
        if not self.dry_run:
            log.info("attachment.kept", folder=str(target.root), name=action.attachment.name,
                     work_item=target.label, reason=action.reason)

    def _say_hold(self, target: Target, held: str | None, finished: bool) -> None:
        """Held deletions are logged when they start (or change) and when they end."""
        key = ("hold", target.key)
        if held is not None:
            self.conditions.start(key, "folder.hold", folder=str(target.root),
                                  work_item=target.label, reason=held)
        elif finished and not self.dry_run:
            self.conditions.end(key, "folder.hold_ended", folder=str(target.root),
                                work_item=target.label)

    def _skip(self, target: Target, rel_path: str, reason: str, report: PassReport) -> None:
        report.skipped.append((rel_path, reason))
        if self.dry_run:
            return
        if self.state.record_skip(target.key, rel_path, reason, fingerprint=reason):
            log.warning("file.skipped", folder=str(target.root), path=rel_path, reason=reason)

    def _note_scan_problems(self, target: Target, scan: ScanResult,
                            report: PassReport) -> None:
        for problem in scan.problems:
            if problem.kind == "changing":
                report.waiting.append((problem.rel_path, problem.reason))
            else:
                self._skip(target, problem.rel_path, problem.reason, report)

    def _record_status(self, target: Target, report: PassReport) -> None:
        if self.dry_run:
            return
        state: FolderState
        reason: str | None
        if report.unavailable:
            state, reason = "unavailable", report.unavailable
        elif report.error:
            state, reason = "error", report.error
        elif report.held:
            state, reason = "held", report.held
        elif report.failed:
            state, reason = "error", f"{len(report.failed)} file(s) failed"
        else:
            state, reason = "ok", None
        self.state.set_folder_status(FolderStatus(
            folder_key=target.key, path=str(target.root), work_item_label=target.label,
            last_sync_at=self.clock(), files_in_sync=report.in_sync + len(report.uploaded),
            pending=len(report.waiting) + len(report.background), failed=len(report.failed),
            skipped=len(report.skipped), state=state, reason=reason))


def _storage_trouble(exc: UploadError) -> bool:
    """Whether the storage host, not this file, made the upload fail: it kept answering
    5xx, could not be reached, or Plane handed out an already expired policy (its clock).
    Any other file would fail the same way, so the daemon backs off as a whole instead of
    parking the file on the per-file schedule (a minute, doubling up to hours)."""
    if isinstance(exc, StorageRejected):
        return exc.status >= 500 or (exc.status == 403
                                     and "policy expired" in exc.message.lower())
    # A plain storage-step UploadError: the storage host could not be reached.
    return type(exc) is UploadError and exc.step == "storage"


def _deletions_safe(scan: ScanResult) -> bool:
    """Whether the scan saw every file that could be there: a directory it could not list,
    or did not enter (another filesystem mounted inside, a loop, too deep), may hold files
    that would otherwise look deleted."""
    return scan.complete and not any(
        p.is_dir and p.kind in ("mount", "loop", "too_deep") for p in scan.problems)
