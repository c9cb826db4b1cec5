"""Which targets are known to be in sync, so that a pass over an unchanged folder need not
ask Plane.

Listing a work item's attachments costs one request of the key's budget (60 a minute on
Plane's default); a team share maps hundreds of work items, and a rescan that lists every one
of them spends the budget on nothing. After a pass that left a target *clean* (every file
uploaded or in sync, nothing failed, waiting, held or stopped), the scan that pass saw is
remembered as a fingerprint: every file's path, size and SHA-256, the scan's problems (each
becomes a skip), and what the plan depended on (the folder's settings, the work item, the
size limit). A later pass whose scan gives the same fingerprint would plan nothing against
the same listing, so it need not fetch one: it reports the folder in sync and Plane is not
asked. Any difference (a file added, changed, gone, a setting reloaded) and the pass lists the
work item first, as always.

What this cannot see is a change on Plane's side (an attachment deleted by hand): that is
what the daemon's re-checks are for (:mod:`plane_sync.service.recheck`), which list
regardless, within a share of the rate budget. Memory only: a restart lists every work item
once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from plane_sync.local.scan import ScanResult
from plane_sync.sync.outcome import PassReport
from plane_sync.sync.targets import Target


@dataclass(frozen=True)
class _InSync:
    fingerprint: bytes
    target: Target  # settings, root and work item as of that pass
    skipped: tuple[tuple[str, str], ...]


def fingerprint(scan: ScanResult, size_limit: int, external_source: str) -> bytes:
    """What a plan over ``scan`` depends on from the local side, in 32 bytes. Files still
    changing are left out: they are not part of any plan until they settle."""
    digest = hashlib.sha256()
    digest.update(f"{size_limit}\0{external_source}\0".encode())
    for f in scan.files:
        digest.update(f"{f.rel_path}\0{f.size}\0{f.sha256}\n".encode("utf-8", "surrogateescape"))
    digest.update(b"\1")
    for p in scan.problems:
        if p.kind != "changing":
            digest.update(f"{p.rel_path}\0{p.kind}\0{p.is_dir}\n".encode(
                "utf-8", "surrogateescape"))
    return digest.digest()


def unchanged_report(report: PassReport, scan: ScanResult,
                     skipped: tuple[tuple[str, str], ...]) -> None:
    """A pass over a scan that is what the last clean pass saw: every file is in sync as
    then, the same files are skipped, and files still being written wait."""
    report.skipped = list(skipped)
    report.waiting = [(p.rel_path, p.reason) for p in scan.problems if p.kind == "changing"]
    skipped_paths = {path for path, _ in skipped}
    report.in_sync = sum(1 for f in scan.files if f.rel_path not in skipped_paths)


class InSyncMemory:
    def __init__(self) -> None:
        self._known: dict[str, _InSync] = {}

    def unchanged(self, target: Target, fp: bytes) -> tuple[tuple[str, str], ...] | None:
        """The skips to report when ``target``'s scan (``fp``) is what its last clean pass
        saw, so nothing would be planned; None when Plane must be asked."""
        known = self._known.get(target.key)
        if known is None or known.fingerprint != fp or known.target != target:
            return None
        return known.skipped

    def note(self, target: Target, fp: bytes, report: PassReport) -> None:
        """A pass over ``target`` ended with ``report``: remember it only if it left the
        target clean, forget what was known otherwise."""
        clean = report.in_sync_now and not (report.stopped or report.kept)
        if clean:
            self._known[target.key] = _InSync(fp, target, tuple(report.skipped))
        else:
            self._known.pop(target.key, None)

    def forget(self, key: str) -> None:
        self._known.pop(key, None)
