"""Directories a scan could not see into, and which attachments lie below them.

A directory that could not be listed (permissions, an I/O error on a share), that another
filesystem is mounted on, that loops back or is too deep may still hold files. Before, one
such directory held back every deletion of the folder; now only what lies below it is held:
its attachments are kept out of the plan (neither deleted nor counted as gone) and its
cached hashes are kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from plane_sync.core.identity import ELLIPSIS, normalize_rel_path, parse_external_id
from plane_sync.core.models import RemoteAttachment
from plane_sync.local.scan import ScanResult

_UNSEEN_KINDS = ("unreadable", "mount", "loop", "too_deep")


def unseen_dirs(scan: ScanResult) -> tuple[str, ...]:
    """Directories (relative to the root) the scan did not see into."""
    return tuple(p.rel_path for p in scan.problems if p.is_dir and p.kind in _UNSEEN_KINDS)


def under_any(rel_path: str, dirs: Iterable[str]) -> bool:
    return any(rel_path.startswith(d + "/") for d in dirs)


def beneath(attachment: RemoteAttachment, dirs: tuple[str, ...], external_source: str) -> bool:
    """Whether one of our attachments may be a file below one of ``dirs``. The path in an
    external id is a hint cut in the middle when long: then any overlap counts."""
    if not dirs or attachment.external_source != external_source:
        return False
    ident = parse_external_id(attachment.external_id)
    if ident is None:
        return False
    nfc = [normalize_rel_path(d) for d in dirs]
    hint = ident.rel_path_hint
    if ident.hint_is_exact:
        return under_any(hint, nfc)
    head = hint.split(ELLIPSIS, 1)[0]
    return any(d.startswith(head) or head.startswith(d + "/") for d in nfc)
