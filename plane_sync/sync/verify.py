"""``verify``: is the work item exactly the folder? An independent check, not the planner.

It re-reads every file (no hash cache: a file rewritten with its mtime put back is hashed
anew) and takes a fresh attachment listing, then compares them by its own simple rules, so a
mistake in the planner, the state database or the hash cache cannot hide a difference:

- every file sync would upload (not empty, within the size limit, not ignored) must have an
  attachment of ours whose external id names its path and its current content, or be matched
  by a person's attachment of the same name, size and MD5; else it is ``missing`` (no version
  of it is attached) or ``stale`` (only other versions are);
- under ``on_change: replace`` an older version of ours beside the current one is ``extra``;
- under ``on_delete: delete`` an attachment of ours whose file is gone is ``extra`` when this
  folder has seen that path (what another folder or machine feeds into the same work item is
  not this folder's to judge; nor, with the state lost, anything until it is seen again);
- two attachments of ours with one external id are a ``duplicate``;
- uploads this machine left half done (journal, intents) or waits on (someone else's pending
  upload) are ``pending``.

``deep`` downloads every attachment that stands for a file and hashes it: ``stale`` when the
bytes attached are not the file's. Nothing here writes to Plane or to the state database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, cast

from plane_sync.core.identity import (
    external_id_for,
    hand_upload_names,
    normalize_rel_path,
    parse_external_id,
    path_key_for,
)
from plane_sync.core.models import LocalFile, RemoteAttachment

DifferenceKind = Literal["missing", "stale", "extra", "duplicate", "pending"]


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    path: str
    detail: str


@dataclass(frozen=True)
class Rules:
    """What sync is configured to do, as far as a comparison needs it."""

    external_source: str
    size_limit: int
    on_change: str = "replace"
    on_delete: str = "keep"
    seen: Collection[str] | None = None  # path keys this folder has seen; None: all
    limit_known: bool = True


def _theirs_match(file: LocalFile, rel_path: str, theirs: Sequence[RemoteAttachment]) -> bool:
    names = hand_upload_names(rel_path)
    return any(a.name in names and a.size == file.size and a.etag_md5
               and a.etag_md5.lower() == file.md5.lower()
               and (a.content_length is None or a.content_length == file.size)
               for a in theirs)


def compare(files: Sequence[LocalFile], remote: Sequence[RemoteAttachment], rules: Rules, *,
            unsettled: Collection[str] = ()) -> tuple[list[Difference],
                                                      dict[str, RemoteAttachment]]:
    """The differences, and for each file that is in sync through one of our attachments,
    that attachment (what ``deep`` downloads)."""
    diffs: list[Difference] = []
    ours: dict[str, list[RemoteAttachment]] = {}
    theirs: list[RemoteAttachment] = []
    for attachment in remote:
        ident = parse_external_id(attachment.external_id)
        if attachment.external_source == rules.external_source and ident is not None:
            ours.setdefault(str(attachment.external_id), []).append(attachment)
        else:
            theirs.append(attachment)
    by_path: dict[str, set[str]] = {}  # path key -> external ids of ours
    for external_id, copies in ours.items():
        ident = parse_external_id(external_id)
        assert ident is not None
        by_path.setdefault(ident.path_key, set()).add(external_id)
        if len(copies) > 1:
            diffs.append(Difference("duplicate", ident.rel_path_hint,
                                    f"{len(copies)} attachments of one version"))
    matched: dict[str, RemoteAttachment] = {}
    present: set[str] = {path_key_for(p) for p in unsettled}
    for file in sorted(files, key=lambda f: (normalize_rel_path(f.rel_path), f.rel_path)):
        rel = normalize_rel_path(file.rel_path)
        key = path_key_for(rel)
        if key in present:
            continue  # an NFD twin of a name already compared: sync takes only one
        present.add(key)
        if file.size <= 0:
            continue
        current = external_id_for(rel, file.sha256)
        if file.size > rules.size_limit:
            if not rules.limit_known:
                diffs.append(Difference("missing", file.rel_path,
                                        f"over the assumed size limit of {rules.size_limit} "
                                        "bytes (Plane's limit could not be read)"))
            continue
        if current in ours:
            matched[file.rel_path] = ours[current][0]
            if rules.on_change == "replace" and len(by_path.get(key, ())) > 1:
                diffs.append(Difference("extra", file.rel_path,
                                        f"{len(by_path[key]) - 1} older version(s) attached"))
        elif _theirs_match(file, rel, theirs):
            continue
        elif by_path.get(key):
            diffs.append(Difference("stale", file.rel_path,
                                    "only other versions of this file are attached"))
        else:
            diffs.append(Difference("missing", file.rel_path, "not attached"))
    if rules.on_delete == "delete":
        for key, external_ids in sorted(by_path.items()):
            if key in present or (rules.seen is not None and key not in rules.seen):
                continue
            hint = parse_external_id(next(iter(external_ids)))
            diffs.append(Difference("extra", hint.rel_path_hint if hint else key,
                                    "the file is gone; its attachment stays"))
    return diffs, matched


def deep_check(matched: dict[str, RemoteAttachment], files: Sequence[LocalFile],
               download: Callable[[str, BinaryIO], int]) -> list[Difference]:
    """Download each attachment that stands for a file and compare the bytes' SHA-256.
    ``download(attachment id, sink)`` writes the attachment's bytes into ``sink``."""
    by_path = {f.rel_path: f for f in files}
    diffs: list[Difference] = []
    for rel_path, attachment in sorted(matched.items()):
        sink = _HashingSink()
        download(attachment.id, cast(BinaryIO, sink))  # only write() is ever called
        if sink.digest.hexdigest() != by_path[rel_path].sha256.lower():
            diffs.append(Difference("stale", rel_path,
                                    f"the attached bytes ({sink.size} bytes) are not the "
                                    "file's"))
    return diffs


class _HashingSink:
    """A write-only file object that hashes what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)
