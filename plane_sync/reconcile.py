"""Decide what to do for one folder: a pure function of the scan, the listing and the policy.

No I/O, no clock, no logging: the same inputs always give the same actions, in the same order.
Actions are inert data; the executor carries them out.

Whose attachment is it? One is **ours** when its ``external_source`` is the policy's and its
``external_id`` parses as an id we made (:mod:`plane_sync.identity`). Everything else (added by
people, by other tools, or ours in a format we cannot read) is **theirs** and is never deleted or
replaced; it can only spare an upload, when its name, size and MD5 match a local file.

Safety: nothing is deleted while the folder is unavailable (missing, unreadable, unmounted),
and deletions of files that are gone are held when they would remove more than half of the
files the folder is known to have (our synced paths together with the paths on disk). Counting
the union, not only our paths, keeps the plan stable: carrying it out never turns a held
deletion into an allowed one on the next pass.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from plane_sync.identity import (
    FileIdentity,
    attachment_name_for,
    external_id_for,
    normalize_rel_path,
    parse_external_id,
    path_key_for,
    plane_sanitize,
)
from plane_sync.mime import mime_type_for
from plane_sync.models import LocalFile, RemoteAttachment

DEFAULT_SIZE_LIMIT = 5 * 1024 * 1024

# Delete.reason values.
REASON_GONE = "file deleted"
REASON_REPLACED = "older version of a file whose current version is uploaded"
REASON_DUPLICATE = "duplicate of an identical attachment"

# Skip.kind values.
SKIP_EMPTY = "empty"
SKIP_TOO_LARGE = "too_large"
SKIP_SAME_PATH = "same_path"


@dataclass(frozen=True)
class Policy:
    """How one folder is synced.

    ``folder_available=False`` means the folder is missing or unreadable: never delete.
    ``allow_mass_delete=True`` lifts the more-than-half rule for one explicit run.
    """

    external_source: str = "plane-sync"
    on_change: Literal["replace", "keep"] = "replace"
    on_delete: Literal["keep", "delete"] = "keep"
    size_limit: int = DEFAULT_SIZE_LIMIT
    folder_available: bool = True
    allow_mass_delete: bool = False


@dataclass(frozen=True)
class Upload:
    """Upload ``file``; after it succeeds, delete ``replaces`` (our older versions of it)."""

    file: LocalFile
    name: str
    mime_type: str
    external_id: str
    replaces: tuple[RemoteAttachment, ...] = ()


@dataclass(frozen=True)
class Delete:
    """Delete one of our attachments; ``rel_path`` may be a cut-down hint for gone files."""

    attachment: RemoteAttachment
    rel_path: str
    reason: str


@dataclass(frozen=True)
class Skip:
    """A local file that is not uploaded; ``kind`` is a tag such as ``empty``."""

    rel_path: str
    reason: str
    kind: str


@dataclass(frozen=True)
class Hold:
    """Deletions were suppressed for safety; ``suppressed`` says how many."""

    reason: str
    suppressed: int = 0


Action = Upload | Delete | Skip | Hold


@dataclass
class _Ours:
    """Our attachments of one path, with their parsed ids."""

    versions: list[tuple[RemoteAttachment, FileIdentity]] = field(default_factory=list)

    def with_content(self, content_key: str) -> list[RemoteAttachment]:
        return [a for a, ident in self.versions if ident.content_key == content_key]

    def without_content(self, content_key: str) -> list[RemoteAttachment]:
        return [a for a, ident in self.versions if ident.content_key != content_key]

    @property
    def hint(self) -> str:
        return self.versions[0][1].rel_path_hint


def _age_key(attachment: RemoteAttachment) -> tuple[str, str]:
    # Oldest first; an attachment without created_at sorts first, then by id: deterministic.
    return (attachment.created_at or "", attachment.id)


def _split_remote(remote: Iterable[RemoteAttachment],
                  source: str) -> tuple[dict[str, _Ours], list[RemoteAttachment]]:
    ours: dict[str, _Ours] = {}
    theirs: list[RemoteAttachment] = []
    for attachment in remote:
        ident = parse_external_id(attachment.external_id)
        if attachment.external_source == source and ident is not None:
            ours.setdefault(ident.path_key, _Ours()).versions.append((attachment, ident))
        else:
            theirs.append(attachment)
    for group in ours.values():
        group.versions.sort(key=lambda pair: _age_key(pair[0]))
    return ours, theirs


def _names_people_would_see(rel_path: str) -> set[str]:
    """Names under which a person may have uploaded this file by hand."""
    names = {attachment_name_for(rel_path)}
    if "/" not in rel_path:
        names.add(rel_path)
        sanitized = plane_sanitize(rel_path)
        if sanitized:
            names.add(sanitized)
    return names


def _matches_theirs(file: LocalFile, rel_path: str, theirs: Sequence[RemoteAttachment]) -> bool:
    names = _names_people_would_see(rel_path)
    for attachment in theirs:
        if attachment.name not in names or attachment.size != file.size:
            continue
        if attachment.content_length is not None and attachment.content_length != file.size:
            continue
        if attachment.etag_md5 and attachment.etag_md5.lower() == file.md5.lower():
            return True
    return False


def _upload(file: LocalFile, rel_path: str, replaces: Sequence[RemoteAttachment]) -> Upload:
    return Upload(
        file=file,
        name=attachment_name_for(rel_path),
        mime_type=mime_type_for(posixpath.basename(rel_path)),
        external_id=external_id_for(rel_path, file.sha256),
        replaces=tuple(replaces),
    )


def _local_by_path(local: Sequence[LocalFile]) -> tuple[dict[str, LocalFile], list[Skip]]:
    """One file per path key; the NFD twin of an NFC name (both can exist on Linux) is skipped."""
    chosen: dict[str, LocalFile] = {}
    skips: list[Skip] = []
    for file in sorted(local, key=lambda f: (normalize_rel_path(f.rel_path), f.rel_path)):
        key = path_key_for(file.rel_path)
        first = chosen.get(key)
        if first is None:
            chosen[key] = file
        else:
            skips.append(Skip(file.rel_path, f"same name as {first.rel_path!r} after Unicode "
                              "normalisation; only that one is synced", SKIP_SAME_PATH))
    return chosen, skips


def plan(local: Sequence[LocalFile], remote: Sequence[RemoteAttachment],
         policy: Policy) -> list[Action]:
    """The actions that make ``remote`` reflect ``local`` under ``policy``.

    Order: a Hold (if any) first, then actions grouped by path in sorted path order; within a
    path: Skip, Upload, Delete.
    """
    ours, theirs = _split_remote(remote, policy.external_source)
    files, same_path_skips = _local_by_path(local)
    replace = policy.on_change == "replace"
    can_delete = policy.folder_available

    per_path: list[tuple[str, list[Action]]] = [(s.rel_path, [s]) for s in same_path_skips]
    suppressed_by_unavailable = 0

    def delete_or_hold(attachment: RemoteAttachment, rel_path: str, reason: str,
                       out: list[Action]) -> None:
        nonlocal suppressed_by_unavailable
        if can_delete:
            out.append(Delete(attachment, rel_path, reason))
        else:
            suppressed_by_unavailable += 1

    for key, file in files.items():
        rel_path = normalize_rel_path(file.rel_path)
        mine = ours.get(key, _Ours())
        actions: list[Action] = []
        current = mine.with_content(file.sha256.lower())
        older = mine.without_content(file.sha256.lower())

        if file.size <= 0:
            # Plane refuses size 0 (400): nothing to upload; older versions stay.
            actions.append(Skip(file.rel_path, "empty file: Plane refuses size 0", SKIP_EMPTY))
        elif file.size > policy.size_limit:
            # Plane would clamp the size and storage refuse the bytes; older versions stay.
            actions.append(Skip(file.rel_path, f"{file.size} bytes is over the limit of "
                                f"{policy.size_limit}", SKIP_TOO_LARGE))
        elif current:
            # Already uploaded by us (here or by another machine). An exact duplicate (two
            # creates racing past the 409) is surplus; keep the oldest.
            for extra in current[1:]:
                delete_or_hold(extra, rel_path, REASON_DUPLICATE, actions)
            # Under replace, older versions left by an interrupted replace are finished off.
            if replace:
                for old in older:
                    delete_or_hold(old, rel_path, REASON_REPLACED, actions)
        elif _matches_theirs(file, rel_path, theirs):
            # Someone uploaded this very file (name, size, MD5) by hand: do not add a copy.
            # Our older versions stay: the current one is not ours to vouch for.
            pass
        elif older and replace:
            # Changed file under replace: upload, then delete the old versions after success.
            if can_delete:
                actions.append(_upload(file, rel_path, older))
            else:
                actions.append(_upload(file, rel_path, ()))
                suppressed_by_unavailable += len(older)
        else:
            # New file, or changed file under keep (older versions stay beside it).
            actions.append(_upload(file, rel_path, ()))
        per_path.append((rel_path, actions))

    # Our files that are gone from disk.
    gone = {key: group for key, group in ours.items() if key not in files}
    known_paths = len(set(ours) | set(files))
    hold: Hold | None = None
    if gone and policy.on_delete == "delete":
        gone_count = sum(len(group.versions) for group in gone.values())
        if not can_delete:
            suppressed_by_unavailable += gone_count
        elif 2 * len(gone) > known_paths and not policy.allow_mass_delete:
            # Looks like an unmounted or emptied share: hold every deletion of gone files.
            hold = Hold(f"{len(gone)} of {known_paths} files are gone; deleting more than "
                        "half at once looks like an unmounted share, so nothing is deleted",
                        gone_count)
        else:
            for group in gone.values():
                per_path.append((group.hint, [Delete(a, group.hint, REASON_GONE)
                                              for a, _ in group.versions]))
    if suppressed_by_unavailable:
        hold = Hold("the folder is missing or unreadable, so nothing is deleted",
                    suppressed_by_unavailable + (hold.suppressed if hold else 0))

    per_path.sort(key=lambda item: item[0])
    result: list[Action] = [hold] if hold else []
    for _, actions in per_path:
        result.extend(actions)
    return result


def summarize(actions: Iterable[Action]) -> dict[str, int]:
    """Counts for a log line: uploads, replaced, deletes, skips, holds."""
    counts: Counter[str] = Counter()
    for action in actions:
        if isinstance(action, Upload):
            counts["uploads"] += 1
            counts["replaced"] += len(action.replaces)
        elif isinstance(action, Delete):
            counts["deletes"] += 1
        elif isinstance(action, Skip):
            counts["skips"] += 1
        else:
            counts["holds"] += 1
    return {k: counts[k] for k in ("uploads", "replaced", "deletes", "skips", "holds")}
