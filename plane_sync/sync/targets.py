"""Turn configured folders into sync targets: one local directory -> one work item.

A folder with ``work_item`` (or project + work item UUIDs) is one target. A folder with
``work_items: subfolders`` gives one target per direct subfolder named like ``PROJ-42`` or
``PROJ-42 anything``; everything else in it is reported as unmapped, never uploaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from plane_sync.config.load import parse_subfolder_name
from plane_sync.config.types import FolderConfig, SingleTarget, SubfolderTarget
from plane_sync.core.models import WorkItem
from plane_sync.errors import AuthError, NotFound, PermissionDenied, PlaneError, PlaneUnreachable
from plane_sync.local import iowatch
from plane_sync.remote.client import PlaneClient


@dataclass(frozen=True)
class Target:
    """One directory mirrored into one work item."""

    folder: FolderConfig
    key: str  # state-database key: the folder's key, plus "/<subfolder>" for subfolder maps
    root: Path
    work_item: WorkItem

    @property
    def label(self) -> str:
        return self.work_item.label


@dataclass(frozen=True)
class TargetProblem:
    """A folder or subfolder that cannot be synced this pass, and why."""

    folder: FolderConfig
    key: str
    path: Path
    label: str
    reason: str
    kind: str  # "unresolved" | "unmapped" | "unavailable" | "conflict"


class WorkItemResolver:
    """Resolves work items once per process; the answers do not change while we run."""

    def __init__(self, client: PlaneClient, *, dry_run: bool = False) -> None:
        self._client = client
        self._dry_run = dry_run  # send no POST, not even the hidden-item probe
        self._cache: dict[tuple[str | None, str | None, str | None], WorkItem] = {}

    @property
    def workspace(self) -> str:
        return self._client.workspace

    def resolve(self, target: SingleTarget) -> WorkItem:
        cache_key = (target.identifier, target.project_id, target.work_item_id)
        found = self._cache.get(cache_key)
        if found is None:
            if target.identifier is not None:
                found = self._client.resolve_identifier(target.identifier)
            else:
                assert target.project_id is not None and target.work_item_id is not None
                found = self._client.get_work_item(target.project_id, target.work_item_id,
                                                   probe_hidden=not self._dry_run)
            self._cache[cache_key] = found
        return found


def resolve_targets(folders: tuple[FolderConfig, ...], resolver: WorkItemResolver,
                    ) -> tuple[list[Target], list[TargetProblem]]:
    """Every target of ``folders`` and every problem found on the way.

    AuthError and PlaneUnreachable propagate: they concern every folder, not one.
    """
    targets: list[Target] = []
    problems: list[TargetProblem] = []
    for folder in folders:
        if isinstance(folder.target, SubfolderTarget):
            _subfolder_targets(folder, resolver, targets, problems)
        else:
            _single_target(folder, folder.target, folder.key, folder.path, resolver,
                           targets, problems)
    return _without_shared_work_items(targets, problems)


def _without_shared_work_items(targets: list[Target], problems: list[TargetProblem],
                               ) -> tuple[list[Target], list[TargetProblem]]:
    """Two directories on one work item would each see the other's files as deleted: only
    the first (in config order) is synced; the others are reported."""
    owner: dict[str, Target] = {}
    kept: list[Target] = []
    for target in targets:
        first = owner.setdefault(target.work_item.id, target)
        if first is target:
            kept.append(target)
            continue
        problems.append(TargetProblem(
            target.folder, target.key, target.root, target.label,
            f"{first.root} is already mapped to {target.label}; two folders on one work item "
            "would fight over its attachments, so this one is not synced", "conflict"))
    return kept, problems


def _single_target(folder: FolderConfig, spec: SingleTarget, key: str, root: Path,
                   resolver: WorkItemResolver, targets: list[Target],
                   problems: list[TargetProblem], *, named_by: str | None = None) -> None:
    """``named_by``: the subfolder whose name gave the identifier (the fix for a wrong one
    is renaming that folder, not the config)."""
    label = spec.identifier or f"{spec.project_id}/{spec.work_item_id}"
    try:
        work_item = resolver.resolve(spec)
    except (AuthError, PlaneUnreachable):
        raise
    except PlaneError as exc:
        reason = str(exc)
        if named_by is not None and isinstance(exc, NotFound | PermissionDenied):
            reason = (f"the subfolder name {named_by!r} says {label}, which "
                      f"{'does not exist' if isinstance(exc, NotFound) else 'the key cannot see'}"
                      f" in workspace {resolver.workspace}: rename the folder after an "
                      'existing work item ("PROJ-42" or "PROJ-42 anything")')
        problems.append(TargetProblem(folder, key, root, label, reason, "unresolved"))
        return
    targets.append(Target(folder=folder, key=key, root=root, work_item=work_item))


def _subfolder_targets(folder: FolderConfig, resolver: WorkItemResolver,
                       targets: list[Target], problems: list[TargetProblem]) -> None:
    try:
        with iowatch.fs_section("listing subfolders"):
            entries = sorted(os.scandir(folder.path), key=lambda e: e.name)
    except OSError as exc:
        problems.append(TargetProblem(folder, folder.key, folder.path, "subfolders",
                                      f"cannot list {folder.path}: {exc.strerror or exc}",
                                      "unavailable"))
        return
    for entry in entries:
        path = folder.path / entry.name
        if not entry.is_dir(follow_symlinks=False):
            if entry.is_file(follow_symlinks=False) and not _hidden(entry.name):
                problems.append(TargetProblem(
                    folder, folder.key, path, "-",
                    "a file directly in a subfolder-mapped folder belongs to no work item; "
                    "move it into a subfolder named after one", "unmapped"))
            continue
        identifier = parse_subfolder_name(entry.name)
        if identifier is None:
            if not _hidden(entry.name):
                problems.append(TargetProblem(
                    folder, folder.key, path, "-",
                    f'"{entry.name}" is not named after a work item (like "PROJ-42" or '
                    '"PROJ-42 anything"); not synced', "unmapped"))
            continue
        _single_target(folder, SingleTarget(identifier=identifier),
                       f"{folder.key}/{entry.name}", path, resolver, targets, problems,
                       named_by=entry.name)


def _hidden(name: str) -> bool:
    return name.startswith(".")
