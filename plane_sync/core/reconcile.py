"""Decide what to do for one folder: a pure function of the scan, the listing and the policy.

No I/O, no clock, no logging: the same inputs always give the same actions, in the same order.
Actions are inert data; the executor carries them out.

Whose attachment is it? One is **ours** when its ``external_source`` is the policy's and its
``external_id`` parses as an id we made (:mod:`plane_sync.core.identity`). Everything else (added by
people, by other tools, or ours in a format we cannot read) is **theirs** and is never deleted or
replaced; it can only spare an upload, when its name, size and MD5 match a local file.

Safety: nothing is deleted while the folder is unavailable (missing, unreadable, unmounted).
A gone file's attachments are deleted only when this folder has **seen** the path
(``Policy.seen``): another folder or machine feeding the same work item tags its uploads just
like ours, and its paths are not ours to delete. Deletions of gone files are held when, with
those deleted within the guard's window (``Policy.recent_deletions``), they would remove more
than half of what the folder held (the paths on disk, the seen paths that are gone, and those
deleted within the window): a share that empties one file at a time is held just like one
that empties at once. Carrying out an allowed plan never turns a held deletion into an
allowed one on the next pass: each deletion moves one path from "gone" to "recently deleted".

A file that only a person's attachment could spare (same name and size) whose storage
metadata Plane has not filled in yet cannot be compared: it is waited for (:class:`Wait`),
not uploaded beside it, unless the caller has given up on that attachment
(``Policy.stop_waiting_for``).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from plane_sync.core.identity import (
    FileIdentity,
    attachment_name_for,
    external_id_for,
    hand_upload_names,
    normalize_rel_path,
    parse_external_id,
    path_key_for,
)
from plane_sync.core.mime import mime_type_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.naming import unique_names
from plane_sync.core.sizes import human_size

DEFAULT_SIZE_LIMIT = 5 * 1024 * 1024

# Delete.reason values.
REASON_GONE = "file deleted"
REASON_REPLACED = "older version of a file whose current version is uploaded"
REASON_DUPLICATE = "duplicate of an identical attachment"
REASON_KEPT = "file deleted; its attachment stays (on_delete: keep)"

# Skip.kind values.
SKIP_EMPTY = "empty"
SKIP_TOO_LARGE = "too_large"
SKIP_SAME_PATH = "same_path"


@dataclass(frozen=True)
class Policy:
    """How one folder is synced.

    ``folder_available=False`` means the folder is missing or unreadable: never delete.
    ``allow_mass_delete=True`` lifts the more-than-half rule for one explicit run.
    ``seen``: path keys this folder has seen on disk (None: every path counts as seen).
    ``recent_deletions``: gone files of this folder deleted within the guard's window.
    ``stop_waiting_for``: ids of people's attachments no longer waited for (see Wait).
    """

    external_source: str = "plane-sync"
    on_change: Literal["replace", "keep"] = "replace"
    on_delete: Literal["keep", "delete"] = "keep"
    size_limit: int = DEFAULT_SIZE_LIMIT
    folder_available: bool = True
    allow_mass_delete: bool = False
    seen: frozenset[str] | None = None
    recent_deletions: int = 0
    stop_waiting_for: frozenset[str] = frozenset()


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


@dataclass(frozen=True)
class Keep:
    """A file of ours that is gone from disk, whose attachment stays (``on_delete: keep``)."""

    attachment: RemoteAttachment  # the newest version of it
    rel_path: str  # the hint from the external id
    reason: str


@dataclass(frozen=True)
class Wait:
    """A local file that cannot be decided yet: ``attachment`` (a person's, same name and
    size) has no storage metadata to compare with so far."""

    rel_path: str
    reason: str
    attachment: RemoteAttachment


Action = Upload | Delete | Skip | Hold | Keep | Wait


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


@dataclass(frozen=True)
class _Remote:
    ours: dict[str, _Ours]  # by path key; one attachment per external id, the oldest
    duplicates: list[tuple[RemoteAttachment, FileIdentity]]  # later copies of an external id
    theirs: list[RemoteAttachment]


def _split_remote(remote: Iterable[RemoteAttachment], source: str) -> _Remote:
    ours: dict[str, _Ours] = {}
    duplicates: list[tuple[RemoteAttachment, FileIdentity]] = []
    theirs: list[RemoteAttachment] = []
    seen: set[FileIdentity] = set()
    for attachment in sorted(remote, key=_age_key):
        ident = parse_external_id(attachment.external_id)
        if attachment.external_source != source or ident is None:
            theirs.append(attachment)
        elif ident in seen:
            # Two creates that raced past Plane's 409 check (it has no unique constraint).
            duplicates.append((attachment, ident))
        else:
            seen.add(ident)
            ours.setdefault(ident.path_key, _Ours()).versions.append((attachment, ident))
    return _Remote(ours, duplicates, theirs)


_Theirs = dict[tuple[int, str], list[RemoteAttachment]]


def _index_theirs(theirs: Iterable[RemoteAttachment]) -> _Theirs:
    """Attachments of others by (size, MD5); those without a known MD5 can never match."""
    index: _Theirs = {}
    for attachment in theirs:
        if not attachment.etag_md5:
            continue  # storage_metadata not filled in yet, or not a plain MD5: cannot tell
        if attachment.content_length is not None and attachment.content_length != attachment.size:
            continue  # the declared size was clamped: not the same bytes as any file we send
        key = (attachment.size, attachment.etag_md5.lower())
        index.setdefault(key, []).append(attachment)
    return index


def _not_comparable_yet(file: LocalFile, rel_path: str, theirs: Iterable[RemoteAttachment],
                        policy: Policy) -> RemoteAttachment | None:
    """A person's attachment that may be this very file but whose MD5 Plane has not filled
    in yet (storage_metadata still ``{}``): same name and size."""
    names = hand_upload_names(rel_path)
    for attachment in theirs:
        if (attachment.metadata_pending and attachment.size == file.size
                and attachment.name in names
                and attachment.id not in policy.stop_waiting_for):
            return attachment
    return None


def _matches_theirs(file: LocalFile, rel_path: str, theirs: _Theirs) -> bool:
    candidates = theirs.get((file.size, file.md5.lower()))
    if not candidates:
        return False
    names = hand_upload_names(rel_path)
    return any(attachment.name in names for attachment in candidates)


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


def _plan_file(file: LocalFile, mine: _Ours, theirs: _Theirs, unfilled: list[RemoteAttachment],
               policy: Policy) -> tuple[list[Action], int]:
    """The decision table for one file on disk; also how many deletions were suppressed."""
    rel_path = normalize_rel_path(file.rel_path)
    content_key = file.sha256.lower()
    current = mine.with_content(content_key)
    older = mine.without_content(content_key)
    replace = policy.on_change == "replace"
    can_delete = policy.folder_available

    if file.size <= 0:
        # Plane refuses size 0 (400): nothing to upload; older versions stay.
        return [Skip(file.rel_path, "empty file: Plane refuses size 0", SKIP_EMPTY)], 0
    if file.size > policy.size_limit:
        # Plane would clamp the size and storage refuse the bytes; older versions stay.
        return [Skip(file.rel_path, f"{human_size(file.size)} is over the server's limit of "
                     f"{human_size(policy.size_limit)}", SKIP_TOO_LARGE)], 0
    if current:
        # Already uploaded by us (here or by another machine): nothing to upload. Under
        # replace, older versions left by an interrupted replace are finished off.
        if not replace or not older:
            return [], 0
        if not can_delete:
            return [], len(older)
        return [Delete(old, rel_path, REASON_REPLACED) for old in older], 0
    if _matches_theirs(file, rel_path, theirs):
        # Someone uploaded this very file (name, size, MD5) by hand: do not add a copy.
        # Our older versions stay: the current one is not ours to vouch for.
        return [], 0
    waiting_on = _not_comparable_yet(file, rel_path, unfilled, policy)
    if waiting_on is not None:
        # Maybe the same file uploaded by hand a moment ago: look again once Plane has
        # filled in its MD5, rather than add a copy now.
        return [Wait(file.rel_path, "an attachment of the same name and size was just "
                     "added by someone else; waiting for Plane to fill in its checksum",
                     waiting_on)], 0
    if older and replace:
        # Changed file under replace: upload, then delete the old versions after success.
        if not can_delete:
            return [_upload(file, rel_path, ())], len(older)
        return [_upload(file, rel_path, older)], 0
    # New file, or changed file under keep (older versions stay beside it).
    return [_upload(file, rel_path, ())], 0


def _plan_gone(gone: dict[str, _Ours], held: int,
               policy: Policy) -> tuple[list[Delete | Keep], Hold | None, int]:
    """Deletions for our files no longer on disk: the deletions (or, under keep, what
    stays), a mass-loss Hold, and how many were suppressed because the folder is
    unavailable. ``held``: what the folder held over the guard's window (see the module
    docstring)."""
    if not gone:
        return [], None, 0
    if policy.on_delete != "delete":
        # Deleted file under on_delete=keep: the attachment stays. Said (by the executor,
        # once) only when the folder was seen whole: otherwise the file may not be gone.
        if not policy.folder_available:
            return [], None, 0
        return [Keep(max((a for a, _ in group.versions), key=_age_key), group.hint,
                     REASON_KEPT) for group in gone.values()], None, 0
    doomed = [(a, group.hint) for group in gone.values() for a, _ in group.versions]
    if not policy.folder_available:
        # Missing or unreadable folder: every file looks gone; delete nothing.
        return [], None, len(doomed)
    losing = len(gone) + policy.recent_deletions
    if 2 * losing > held and not policy.allow_mass_delete:
        # Looks like an unmounted or emptying share: hold every deletion of gone files.
        recent = (f" ({policy.recent_deletions} of them deleted within the last hour)"
                  if policy.recent_deletions else "")
        return [], Hold(f"{losing} of {held} files are gone{recent}; deleting more than "
                        "half looks like an unmounted or emptying share, so nothing is "
                        "deleted", len(doomed)), 0
    # Deleted file under on_delete=delete, within the safety limit: every version goes.
    return [Delete(a, hint, REASON_GONE) for a, hint in doomed], None, 0


_RANK = {Skip: 0, Wait: 0, Upload: 1, Delete: 2, Keep: 3}


def _order(entry: tuple[str, Action]) -> tuple[str, int]:
    path, action = entry
    return (path, _RANK[type(action)])


def plan(local: Sequence[LocalFile], remote: Sequence[RemoteAttachment],
         policy: Policy, *, unsettled: Collection[str] = ()) -> list[Action]:
    """The actions that make ``remote`` reflect ``local`` under ``policy``.

    ``unsettled``: paths of files that exist but could not be taken this pass (still being
    written, unreadable). They are not gone: their attachments are neither deleted nor
    replaced until a later pass sees their content.

    Order: a Hold (if any) first, then by path (NFC; the hint for gone files); within one
    path: Skip, Upload, Delete.
    """
    split = _split_remote(remote, policy.external_source)
    files, same_path_skips = _local_by_path(local)
    entries: list[tuple[str, Action]] = [(s.rel_path, s) for s in same_path_skips]
    suppressed = 0
    theirs = _index_theirs(split.theirs)
    unfilled = [a for a in split.theirs if a.metadata_pending]

    # Surplus copies of one external id lose nothing when deleted, whatever the policy.
    for attachment, ident in split.duplicates:
        if policy.folder_available:
            entries.append((ident.rel_path_hint,
                            Delete(attachment, ident.rel_path_hint, REASON_DUPLICATE)))
        else:
            suppressed += 1

    for key, file in files.items():
        actions, file_suppressed = _plan_file(file, split.ours.get(key, _Ours()),
                                              theirs, unfilled, policy)
        suppressed += file_suppressed
        entries.extend((normalize_rel_path(file.rel_path), a) for a in actions)

    present = {path_key_for(p) for p in unsettled}
    # Only paths this folder has seen are its own to delete; the others are another
    # folder's (or machine's) feeding the same work item.
    gone = {key: group for key, group in split.ours.items()
            if key not in files and key not in present
            and (policy.seen is None or key in policy.seen)}
    held = len(set(gone) | set(files) | present) + policy.recent_deletions
    gone_deletes, hold, gone_suppressed = _plan_gone(gone, held, policy)
    suppressed += gone_suppressed
    entries.extend((d.rel_path, d) for d in gone_deletes)
    if suppressed:
        hold = Hold("the folder is missing or unreadable, so nothing is deleted", suppressed)

    _name_uploads(entries, [*(f.rel_path for f in files.values()), *unsettled], split)
    entries.sort(key=_order)
    return ([hold] if hold else []) + [action for _, action in entries]


def _name_uploads(entries: list[tuple[str, Action]], present: Iterable[str],
                  split: _Remote) -> None:
    """Give every upload a name no other file of ours on the work item has (in place)."""
    uploads = [(i, a) for i, (_, a) in enumerate(entries) if isinstance(a, Upload)]
    if not uploads:
        return
    ours = [(ident.path_key, a.name) for group in split.ours.values()
            for a, ident in group.versions]
    ours += [(ident.path_key, a.name) for a, ident in split.duplicates]
    names = unique_names([a.file.rel_path for _, a in uploads], present, ours)
    for index, action in uploads:
        name = names[action.file.rel_path]
        if name != action.name:
            entries[index] = (entries[index][0], dataclasses.replace(action, name=name))


def summarize(actions: Iterable[Action]) -> dict[str, int]:
    """Counts for a log line: uploads, replaced, deletes, skips, kept, holds, waits."""
    counts: Counter[str] = Counter()
    for action in actions:
        if isinstance(action, Upload):
            counts["uploads"] += 1
            counts["replaced"] += len(action.replaces)
        elif isinstance(action, Delete):
            counts["deletes"] += 1
        elif isinstance(action, Skip):
            counts["skips"] += 1
        elif isinstance(action, Keep):
            counts["kept"] += 1
        elif isinstance(action, Wait):
            counts["waits"] += 1
        else:
            counts["holds"] += 1
    return {k: counts[k] for k in ("uploads", "replaced", "deletes", "skips", "kept", "holds",
                                   "waits")}
