"""The download side of a pass for ``direction: both`` (see :mod:`plane_sync.core.twoway`).

The engine calls :meth:`TwoWay.before_uploads` after the scan and the listing: it decides,
carries out the downloads, conflict copies and trashings, records what both sides agree on,
and hands back the local files and unsettled paths the up planner is to see (a file being
replaced or held is hidden from it; a path being downloaded is "present but not read", so
its attachments are neither deleted nor replaced). Downloads run before uploads: a conflict
copy is written before the local version replaces the remote one, and when it fails the
local version waits. :meth:`TwoWay.after_uploads` records the base of what was uploaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from plane_sync.core.identity import normalize_rel_path, path_key_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.twoway import Base, Download, TwoWayPolicy, plan_both
from plane_sync.errors import PlaneError
from plane_sync.local.ignore import IgnoreRules
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.downloads import DownloadJob, remove_leftovers
from plane_sync.sync.outcome import PassReport, StopFlag
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.trash import Trash
from plane_sync.sync.twoway_tables import RemoteEvent
from plane_sync.sync.unseen import under_any

log = structlog.get_logger(__name__)

RETRY = "tried again next pass"


class TwoWay:
    def __init__(self, client: PlaneClient, state: StateDB, *, external_source: str,
                 dry_run: bool, clock: Callable[[], float] = time.time,
                 must_raise: Callable[[PlaneError], bool] = lambda exc: False,
                 skip: Callable[[Target, str, str, PassReport], None],
                 stop: StopFlag | None = None) -> None:
        self.client, self.state = client, state
        self.external_source = external_source
        self.dry_run = dry_run
        self.clock = clock
        self.must_raise = must_raise
        self.skip = skip
        self.stop = stop
        self._started: set[str] = set()  # targets whose leftovers were removed

    def trash_for(self, target: Target) -> Trash:
        return Trash(self.state.path.parent, target.key)

    def before_uploads(self, target: Target, files: Sequence[LocalFile],
                       remote: Sequence[RemoteAttachment], unsettled: Sequence[str],
                       unseen: Sequence[str], *, recent_deletions: int, allow_mass_delete: bool,
                       report: PassReport) -> tuple[list[LocalFile], list[str]]:
        folder = target.folder
        trash = self.trash_for(target)
        if not self.dry_run:
            if target.key not in self._started:
                self._started.add(target.key)
                remove_leftovers(self.state, target.key, target.root)
            trash.purge(folder.trash_keep, self.clock())
        rules = IgnoreRules(folder.include, folder.exclude)

        def takes(rel_path: str) -> bool:
            parts = rel_path.split("/")
            if len(parts) > 1 and not folder.recurse:
                return False
            dirs = ["/".join(parts[:i]) for i in range(1, len(parts))]
            return not any(rules.ignores(d, True) for d in dirs) and not rules.ignores(
                rel_path, False)

        # A directory the scan could not see into: its files' bases say nothing this pass.
        bases = {k: b for k, b in self.state.synced_bases(target.key, target.work_item.id).items()
                 if not under_any(b.rel_path, unseen)}
        policy = TwoWayPolicy(external_source=self.external_source, on_delete=folder.on_delete,
                              allow_mass_delete=allow_mass_delete,
                              recent_deletions=recent_deletions, takes=takes)
        plan = plan_both(files, remote, bases, policy, unsettled=unsettled)
        withhold, protect = set(plan.withhold), set(plan.protect)
        for path, reason in plan.skipped:
            self.skip(target, path, reason, report)
        report.kept += plan.kept
        if plan.hold:
            report.held = f"{report.held}; {plan.hold}" if report.held else plan.hold
        for download in plan.downloads:
            if self.stop is not None and self.stop.is_set():
                report.stopped = True
                report.waiting.append((download.rel_path, "not downloaded yet: the pass "
                                       "stopped first"))
                if download.of_path:
                    withhold.add(download.of_path)
                    protect.add(download.of_path)
                continue
            ok = self._download(target, download, trash, report)
            if not ok and download.of_path:  # no conflict copy yet: the local version waits
                withhold.add(download.of_path)
                protect.add(download.of_path)
        for item in plan.trash:
            self._trash(target, item.file, trash, report)
        if not self.dry_run:
            if plan.agreed:
                self.state.set_synced(target.key, target.work_item.id, plan.agreed.items())
            if plan.forget:
                self.state.forget_synced(target.key, target.work_item.id, plan.forget)
        kept = [f for f in files if normalize_rel_path(f.rel_path) not in withhold]
        return kept, sorted(set(unsettled) | withhold | protect)

    def _download(self, target: Target, download: Download, trash: Trash,
                  report: PassReport) -> bool:
        size = download.remote.attachment.size
        if self.dry_run:
            self._note(report, download.kind, download.rel_path, download.of_path, size)
            return True
        job = DownloadJob(self.client, self.state, target, download, trash, clock=self.clock,
                          must_raise=self.must_raise)
        job.run()
        if not job.succeeded:
            reason = f"could not download it: {job.error}"
            if RETRY not in reason:
                reason += f"; {RETRY}"
            report.failed.append((download.rel_path, reason))
            log.warning("file.download_failed", folder=str(target.root),
                        path=download.rel_path, work_item=target.label, error=job.error)
            return False
        self._note(report, download.kind, download.rel_path, download.of_path, size)
        return True

    @staticmethod
    def _note(report: PassReport, kind: str, rel_path: str, of_path: str | None,
              size: int) -> None:
        if kind == "conflict":
            report.conflicts.append((rel_path, of_path or ""))
        report.downloaded.append((rel_path, size))

    def _trash(self, target: Target, file: LocalFile, trash: Trash,
               report: PassReport) -> None:
        reason = "removed in Plane; moved to the trash"
        if self.dry_run:
            report.trashed.append((file.rel_path, reason))
            return
        now = self.clock()
        try:
            where = trash.move_in(target.root, file.rel_path, file.size, file.mtime_ns, now)
        except OSError as exc:
            report.failed.append((file.rel_path, f"could not move it to the trash: "
                                  f"{exc.strerror or exc}; {RETRY}"))
            return
        if where is None:
            return  # changed meanwhile: the next pass uploads it
        self.state.record_deletion(target.key, path_key_for(file.rel_path), now)
        self.state.forget_synced(target.key, target.work_item.id, [path_key_for(file.rel_path)])
        self.state.add_remote_event(RemoteEvent(target.key, "trashed", file.rel_path,
                                                str(where), now))
        report.trashed.append((file.rel_path, reason))
        log.info("file.trashed", folder=str(target.root), path=file.rel_path,
                 work_item=target.label, trash=str(where))

    def after_uploads(self, target: Target, files: Sequence[LocalFile],
                      report: PassReport) -> None:
        """What was uploaded this pass is what both sides now agree on."""
        if self.dry_run or not report.uploaded:
            return
        by_path = {f.rel_path: f for f in files}
        agreed = []
        for rel_path, _ in report.uploaded:
            file = by_path.get(rel_path)
            if file is not None:
                sha = file.sha256.lower()
                agreed.append((path_key_for(rel_path),
                               Base(normalize_rel_path(rel_path), sha, f"sha256:{sha}")))
        self.state.set_synced(target.key, target.work_item.id, agreed)
