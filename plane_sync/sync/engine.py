"""One reconcile pass over one target: recover, scan, list, plan, execute, record.

The remote listing is the truth; the state database only saves work and remembers intent.
Uploads, and what makes them wait (retry times, a pause on every upload, someone else's
pending upload), are :mod:`plane_sync.sync.uploads`; cleaning up after a crash is
:mod:`plane_sync.sync.recovery`; which gone files a folder may delete is
:mod:`plane_sync.sync.ownership`. A pass that finds nothing to do can be checked against the
same scan and listing by :mod:`plane_sync.sync.verify` (the daemon does so whenever a pass
lists the work item).

A pass asked to list only if needed (``listing=False``, the daemon's passes that are not
re-checks) skips the listing, and so costs no request, when the scan is what the target's
last clean pass saw (:mod:`plane_sync.sync.unchanged`). With ``transfers`` the uploads of a
pass run on a pool of workers (:mod:`plane_sync.sync.parallel`), each exactly as in line.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import structlog

from plane_sync.core.identity import normalize_rel_path, path_key_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.reconcile import (
    REASON_GONE,
    SKIP_TOO_LARGE,
    Delete,
    Hold,
    Keep,
    Policy,
    Skip,
    Upload,
    Wait,
    plan,
)
from plane_sync.errors import PlaneError
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import ScanResult, SettledCheck, scan_folder
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.conditions import Conditions
from plane_sync.sync.folder_status import record_status
from plane_sync.sync.outcome import STOPPED_BEFORE, PassReport, Progress, StopFlag
from plane_sync.sync.ownership import forget_gone, note_seen, path_key_of
from plane_sync.sync.parallel import PassUploads, Transfers, count_sent
from plane_sync.sync.pending import clock_time
from plane_sync.sync.recovery import Recovery
from plane_sync.sync.size_limit import SizeLimit
from plane_sync.sync.state import FolderHashCache, StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.twoway import TwoWay
from plane_sync.sync.unchanged import InSyncMemory, fingerprint, unchanged_report
from plane_sync.sync.unseen import beneath, under_any, unseen_dirs
from plane_sync.sync.uploads import Uploader
from plane_sync.sync.verify import Rules, compare

log = structlog.get_logger(__name__)

METADATA_GRACE = 120.0  # seconds a person's attachment without an MD5 yet is waited for
METADATA_RECHECK = 5.0


class Engine:
    def __init__(self, client: PlaneClient, state: StateDB, *, size_limit: int | SizeLimit,
                 external_source: str, dry_run: bool = False,
                 clock: Callable[[], float] = time.time,
                 progress: Progress | None = None,
                 stop: StopFlag | None = None,
                 raise_server_errors: bool = False,
                 allow_mass_delete: Callable[[Target], bool] | None = None,
                 probe: bool = False, transfers: Transfers | None = None) -> None:
        self.client = client
        self.state = state
        self.limits = (size_limit if isinstance(size_limit, SizeLimit)
                       else SizeLimit.constant(size_limit))
        self.size_limit = self.limits.value
        # The explicit override of the mass-delete guard (sync --allow-deletes).
        self.allow_mass_delete = allow_mass_delete or (lambda target: False)
        # A person's attachment without an MD5 yet -> when this process first saw it so.
        self._unfilled_since: dict[str, float] = {}
        self.external_source = external_source
        self.dry_run = dry_run
        self.clock = clock
        self.progress = progress or Progress()
        self.stop = stop  # set: finish the running action, start no new one
        # True (the daemon): a 5xx/429 left after the client's retries is the server's
        # trouble, not the file's: raise it (the caller backs off and comes back) instead
        # of parking the file on the per-file retry schedule (first retry after 60 s).
        # The same for a storage host that fails (see sync.uploads) and for failed
        # deletes, which have no per-file schedule at all.
        self.raise_server_errors = raise_server_errors
        self.transfers = transfers  # None: one upload after another, in the pass
        self._hash_caches: dict[str, FolderHashCache] = {}
        self.known_clean = InSyncMemory()  # targets whose last pass left them clean
        self.conditions = Conditions(log)  # lasting ones (a hold) are said once
        self.recovery = Recovery(client, state, external_source=external_source,
                                 raise_server_errors=raise_server_errors)
        # probe (sync): see sync.uploads; the daemon keeps to the retry times.
        self.uploads = Uploader(client, state, self.recovery, external_source=external_source,
                                clock=clock,
                                progress=dataclasses.replace(self.progress, on_bytes=self._sent),
                                raise_server_errors=raise_server_errors, probe=probe,
                                skip=self._skip)
        self.twoway = TwoWay(client, state, external_source=external_source, dry_run=dry_run,
                             clock=clock, must_raise=self.recovery.must_raise, skip=self._skip,
                             stop=stop)

    # -- one pass -------------------------------------------------------------------------

    def sync_target(self, target: Target, *, settle: float = 0.0,
                    settled: SettledCheck | None = None, verify: bool = False,
                    listing: bool = True) -> PassReport:
        """One pass. ``settle`` (seconds of mtime age) or ``settled`` (a predicate, the
        daemon's Settler) keeps files that are still being written out of it. ``verify``:
        when the pass finds nothing to do, check that with :mod:`plane_sync.sync.verify`
        against the same scan and listing (no extra request). ``listing`` False: ask Plane
        only if the folder changed since the last clean pass (module docstring);
        ``report.listed`` says whether it did."""
        report = PassReport(target.key, target.label, str(target.root))
        folder = target.folder
        self.size_limit = self.uploads.size_limit = self.limits.current()
        seen_before = self._hash_cache(target.key).paths()  # what the last pass saw
        scan = scan_folder(target.root, IgnoreRules(folder.include, folder.exclude),
                           recurse=folder.recurse, cache=self._hash_cache(target.key),
                           settle_ns=int(settle * 1e9), settled=settled,
                           hash_limit=self.size_limit,
                           rehash_after=folder.rehash_interval or None)
        report.fingerprint, report.hashed = scan.fingerprint, scan.hashed
        report.hashed_bytes = scan.hashed_bytes
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
        # What this pass does to Plane is only vouched for by its own clean end: a pass that
        # raises part-way (after an upload, say) must not leave the old clean state behind.
        self.known_clean.forget(target.key)
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
        unseen = unseen_dirs(scan)
        if not self.dry_run:
            self.recovery.recover(target, remote)
            if not unseen:
                self.recovery.sweep_orphans(target, scan, set(unsettled))
        ownership = note_seen(self.state, target.key, target.work_item.id, scan.files,
                              unsettled, now=self.clock(), record=not self.dry_run)
        policy = Policy(external_source=self.external_source, on_change=folder.on_change,
                        on_delete=folder.on_delete, size_limit=self.size_limit,
                        folder_available=scan.available,
                        allow_mass_delete=self.allow_mass_delete(target),
                        seen=ownership.seen, recent_deletions=ownership.recent_deletions,
                        stop_waiting_for=self._given_up_waiting(remote))
        # A directory the scan could not see into holds back only what is below it.
        visible = [a for a in remote if not beneath(a, unseen, self.external_source)]
        files: Sequence[LocalFile] = scan.files
        planned_unsettled = unsettled
        if folder.direction == "both":  # downloads first; see sync.twoway
            files, planned_unsettled = self.twoway.before_uploads(
                target, scan.files, visible, unsettled, unseen,
                recent_deletions=ownership.recent_deletions,
                allow_mass_delete=policy.allow_mass_delete, report=report)
        actions = plan(files, visible, policy, unsettled=planned_unsettled)
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
                if action.kind == SKIP_TOO_LARGE:
                    self._too_large(target, action, report)
                else:
                    self._skip(target, action.rel_path, action.reason, report)
            elif isinstance(action, Keep):
                self._keep(target, action, seen_before, report)
            elif isinstance(action, Wait):
                report.wait(action.rel_path, action.reason, self.clock() + METADATA_RECHECK)
            elif isinstance(action, Hold):
                report.held = _with_remedy(action.reason, target, bool(action.suppressed))
        if parallel is not None:
            parallel.finish(report)  # waits for the uploads; raises what they raised
        finished = not report.stopped
        if folder.direction == "both":
            self.twoway.after_uploads(target, scan.files, report)
        self._say_hold(target, report.held, finished)
        # Verify and forget only what a scan that saw into every directory can vouch for.
        quiet = not actions and not report.downloaded and not report.trashed
        if verify and finished and not unseen and quiet and not self.dry_run:
            self._verify(target, scan, remote, unsettled, ownership.seen, report)
        busy = {p for p, _ in report.uploaded} | {p for p, _ in report.failed}
        busy |= {p for p, _ in report.waiting} | {p for p, _ in report.skipped}
        busy |= {p for p, _ in report.trashed} | {p for p, _ in report.background}
        report.in_sync = sum(1 for f in scan.files if f.rel_path not in busy)
        if scan.available and not self.dry_run:
            # Hashes go only with their files: one still being written, unreadable, or in a
            # directory that could not be listed keeps its hash for when it is seen again.
            cache = self._hash_cache(target.key)
            seen = {f.rel_path for f in scan.files} | set(unsettled)
            seen |= {p for p in cache.paths() if under_any(p, unseen)}
            if scan.volume is not None:
                # Another filesystem under the folder (the empty mount point of a share that
                # was unmounted a moment ago): its absence says nothing about the share's
                # files, whose hashes are kept for when it is back.
                seen |= cache.paths_elsewhere(scan.volume)
            self.state.prune_hashes(target.key, seen)
            cache.retain(seen)
            self.state.clear_skips_except(target.key, {p for p, _ in report.skipped})
            if finished:
                self._forget_failures(target, report)
            if not unseen:
                present = {path_key_for(p) for p in seen | set(unsettled)}
                forget_gone(self.state, target.key, target.work_item.id, ownership, present,
                            remote, self.external_source)
            self.known_clean.note(target, local, report)
        self._record_status(target, report)
        return report

    def _verify(self, target: Target, scan: ScanResult, remote: list[RemoteAttachment],
                unsettled: list[str], seen: frozenset[str], report: PassReport) -> None:
        """The planner found nothing to do: does the independent check agree? A difference
        is logged, shown in status, and its files are hashed afresh next pass."""
        folder = target.folder
        rules = Rules(external_source=self.external_source, size_limit=self.size_limit,
                      on_change=folder.on_change, on_delete=folder.on_delete, seen=seen,
                      limit_known=self.limits.known)
        differences, _ = compare(scan.files, remote, rules, unsettled=unsettled)
        for d in differences:
            log.warning("verify.difference", folder=str(target.root), work_item=target.label,
                        path=d.path, kind=d.kind, detail=d.detail)
            report.differences.append((d.path, f"{d.kind}: {d.detail}"))
        if differences:
            present = {f.rel_path for f in scan.files} - {d.path for d in differences}
            self._hash_cache(target.key).retain(present)

    def _too_large(self, target: Target, action: Skip, report: PassReport) -> None:
        """Over the limit: skipped when the server said the limit, waiting when it was only
        assumed (the server could not be asked); either way the server is asked again soon."""
        self.limits.found_too_large()
        if self.limits.known:
            self._skip(target, action.rel_path, action.reason, report)
            return
        report.wait(action.rel_path, f"{action.reason} assumed: Plane's limit could not be "
                    "read (GET /api/instances/ failed); asked again at "
                    f"{clock_time(self.limits.next_refresh)}", self.limits.next_refresh)

    def _given_up_waiting(self, remote: list[RemoteAttachment]) -> frozenset[str]:
        """People's attachments whose MD5 has stayed unknown too long to go on waiting (Plane's
        metadata task may not run at all): compared as before, they no longer hold a file."""
        now = self.clock()
        unfilled = {a.id for a in remote if a.metadata_pending}
        for gone in set(self._unfilled_since) - unfilled:
            del self._unfilled_since[gone]
        for attachment_id in unfilled:
            self._unfilled_since.setdefault(attachment_id, now)
        return frozenset(i for i, since in self._unfilled_since.items()
                         if now - since >= METADATA_GRACE)

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
        if self.dry_run:
            report.uploaded.append((action.file.rel_path, action.file.size))
            for old in action.replaces:  # what a real run would delete after the upload
                report.deleted.append((old.name, "replaced by a newer version"))
            return
        if self.uploads.upload(target, action, report):
            for old in action.replaces:
                self._delete(target, old, "replaced by a newer version", report)

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
            path_key = path_key_of(attachment)
            if reason == REASON_GONE and path_key is not None:
                self.state.record_deletion(target.key, path_key, self.clock())
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

    def _sent(self, nbytes: int) -> None:
        """A chunk went to storage: the upload worker's count, the bandwidth cap, then the
        progress display."""
        if self.transfers is not None:
            count_sent(nbytes)
            if self.transfers.bandwidth is not None:
                self.transfers.bandwidth.take(nbytes)
        self.progress.on_bytes(nbytes)

    def _record_status(self, target: Target, report: PassReport) -> None:
        if not self.dry_run:
            record_status(self.state, target, report, self.clock())


def _with_remedy(reason: str, target: Target, mass: bool) -> str:
    """A held deletion names its way out: an explicit run that allows it."""
    if not mass:
        return reason
    return (f"{reason}. If the files were removed on purpose, run: plane-sync sync "
            f"--allow-deletes {target.root} (stop the daemon first if it runs)")

