"""Verify one target: scan without the hash cache, list, compare (see :mod:`.verify`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from plane_sync.core.identity import normalize_rel_path, path_key_for
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import MemoryHashCache, scan_folder
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.size_limit import SizeLimit
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.verify import Difference, Rules, compare, deep_check


@dataclass
class Verdict:
    target: Target
    files: int = 0
    differences: list[Difference] = field(default_factory=list)
    unavailable: str | None = None  # the folder could not be read: nothing was compared

    @property
    def ok(self) -> bool:
        return not self.differences and self.unavailable is None


def verify_target(client: PlaneClient, state: StateDB, target: Target, limits: SizeLimit, *,
                  external_source: str, deep: bool = False) -> Verdict:
    folder = target.folder
    limit = limits.current()
    verdict = Verdict(target)
    # A fresh cache: every file is read and hashed again.
    scan = scan_folder(target.root, IgnoreRules(folder.include, folder.exclude),
                       recurse=folder.recurse, cache=MemoryHashCache(), hash_limit=limit)
    if not scan.available:
        verdict.unavailable = scan.reason or "folder is not available"
        return verdict
    remote = client.list_attachments(target.work_item)
    unreadable = [p.rel_path for p in scan.problems if not p.is_dir and p.kind == "unreadable"]
    seen = state.seen_paths(target.key, target.work_item.id)
    rules = Rules(external_source=external_source, size_limit=limit,
                  on_change=folder.on_change, on_delete=folder.on_delete,
                  seen=set(seen) | {path_key_for(f.rel_path) for f in scan.files},
                  limit_known=limits.known)
    diffs, matched = compare(scan.files, remote, rules, unsettled=unreadable)
    if deep:
        diffs += deep_check(matched, scan.files,
                            lambda aid, sink: client.download(target.work_item, aid, sink))
    diffs += _pending(state, target)
    verdict.files = len(scan.files)
    verdict.differences = sorted(diffs, key=lambda d: (normalize_rel_path(d.path), d.kind))
    return verdict


def _pending(state: StateDB, target: Target) -> list[Difference]:
    """What this machine left half done or waits on, from its own records."""
    found = [Difference("pending", e.rel_path, "an upload this machine began is not complete")
             for e in state.journal_entries() if e.work_item_id == target.work_item.id]
    found += [Difference("pending", i.rel_path, "a create of this machine may have reached "
                         "Plane without its answer") for i in state.intents()
              if i.work_item_id == target.work_item.id]
    found += [Difference("pending", p.rel_path, "waits on another machine's pending upload")
              for p in state.pending(target.key)]
    return found
