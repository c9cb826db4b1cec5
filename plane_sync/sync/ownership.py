"""Which gone files a folder may delete: those it has seen (see ``sync.state_tables``).

Before a pass, the paths on disk (and those that exist but were not taken yet) are added to
what the folder has seen for its work item; the planner gets the seen path keys and the number
of gone files deleted within the mass-delete guard's window. After the pass, a seen path that is
gone and has no attachment of ours left is forgotten, so the table stays as small as the work
item's attachment list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from plane_sync.core.identity import normalize_rel_path, parse_external_id, path_key_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.sync.state import StateDB

DELETE_WINDOW = 3600.0  # the mass-delete guard counts deletions of gone files this far back


@dataclass(frozen=True)
class Ownership:
    seen: frozenset[str]  # path keys this folder has seen, the present ones included
    recent_deletions: int


def note_seen(state: StateDB, folder_key: str, work_item_id: str, files: Iterable[LocalFile],
              unsettled: Iterable[str], *, now: float, record: bool) -> Ownership:
    """What the folder owns this pass; ``record``: store the paths on disk as seen."""
    present = {path_key_for(f.rel_path): normalize_rel_path(f.rel_path) for f in files}
    present.update((path_key_for(p), normalize_rel_path(p)) for p in unsettled)
    stored = state.seen_paths(folder_key, work_item_id)
    new = [(k, p) for k, p in present.items() if k not in stored]
    if record and new:
        state.add_seen(folder_key, work_item_id, new)
    recent = state.recent_deletions(folder_key, now - DELETE_WINDOW)
    return Ownership(frozenset(stored) | frozenset(present), recent)


def forget_gone(state: StateDB, folder_key: str, work_item_id: str, ownership: Ownership,
                present: Collection[str], remote: Iterable[RemoteAttachment],
                external_source: str) -> None:
    """Forget seen paths that are gone and have no attachment of ours left to delete."""
    ours = set()
    for attachment in remote:
        ident = parse_external_id(attachment.external_id)
        if attachment.external_source == external_source and ident is not None:
            ours.add(ident.path_key)
    stale = [k for k in ownership.seen if k not in present and k not in ours]
    if stale:
        state.forget_seen(folder_key, work_item_id, stale)


def path_key_of(attachment: RemoteAttachment) -> str | None:
    ident = parse_external_id(attachment.external_id)
    return None if ident is None else ident.path_key
