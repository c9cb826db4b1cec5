"""The download side of ``direction: both``: a pure decision per path, like the planner.

Three things are compared for every path: the local file (or none), the attachment that is
the path's current version in Plane (or none), and the **synced base** (or none): what both
sides last agreed on (the content's SHA-256 and the attachment's *version*: ``sha256:<hex>``
for ours, whose external id names the content, ``id:<attachment id>`` for a person's, whose
content only an MD5 vouches for). Which side changed is which side differs from the base.

Which attachment is a path's current version: the newest (by ``created_at``) of our
attachments of the path and of people's attachments whose name is one the path could have
been uploaded under by hand (:func:`~plane_sync.core.identity.hand_upload_names`); a
person's attachment that matches no known path goes to the folder root under its name,
cleaned for the local filesystem (:func:`local_name_for`). So a colleague who uploads a new
``report.pdf`` in Plane's web page updates ``report.pdf`` in the folder.

The rules (the invariants of issue 11):

- Local data is overwritten only when it is unchanged since the base (so it was in Plane),
  and its previous version goes to the trash first; when both sides changed, or they differ
  without a base, the local file stays and the attachment is written beside it under a conflict name
  (:func:`conflict_name`) that every machine derives alike; the copy is uploaded like any
  new file, so both versions end in Plane and on every machine.
- No echo: what was downloaded is recorded as the base, so it is neither uploaded back nor
  downloaded again; the up planner adopts it through its identity (ours) or its name, size
  and MD5 (a person's).
- A local file is removed only when the attachment is gone from Plane, the folder says
  ``on_delete: delete``, the file is unchanged since the base, and the mass-delete guard
  passes; it goes to the trash, never unlinked. Under ``on_delete: keep`` it stays and is
  uploaded again.
- A local deletion of a synced file is remembered by its base (a tombstone): the attachment
  is not downloaded again until it changes (a new version), whoever uploaded it.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from plane_sync.core.display import BIDI_CONTROLS
from plane_sync.core.identity import (
    hand_upload_names,
    normalize_rel_path,
    parse_external_id,
    path_key_for,
)
from plane_sync.core.models import LocalFile, RemoteAttachment

MAX_NAME_BYTES = 255  # what Linux filesystems take in one path component

REASON_REMOVED_KEEP = "removed in Plane; the file stays and is uploaded again (on_delete: keep)"
REASON_UNPLACEABLE = ("its path was cut to fit the attachment's external id, so where it "
                      "belongs in the folder is unknown; not downloaded")
REASON_EXCLUDED = "not downloaded: the folder's include/exclude rules leave this path out"
REASON_BAD_NAME = "not downloaded: its name cannot be a file name here"


@dataclass(frozen=True)
class Base:
    """What the folder and the work item last agreed on for one path."""

    rel_path: str
    sha256: str
    version: str  # see module docstring


@dataclass(frozen=True)
class Remote:
    """The attachment that is a path's current version."""

    attachment: RemoteAttachment
    rel_path: str
    version: str
    sha256: str | None  # known for ours (the external id names it)

    def same_content(self, file: LocalFile) -> bool | None:
        """Whether ``file`` holds these bytes; None when it cannot be told yet (a person's
        attachment of the same size whose MD5 Plane has not filled in)."""
        if self.sha256 is not None:
            return self.sha256 == file.sha256.lower()
        a = self.attachment
        if a.size != file.size:
            return False
        if not a.etag_md5 or "-" in a.etag_md5:
            return None
        return a.etag_md5.lower() == file.md5.lower()


DownloadKind = Literal["new", "update", "conflict"]


@dataclass(frozen=True)
class Download:
    """Write ``remote``'s bytes to ``rel_path``. ``kind``: a file new here, a newer version of
    an unchanged file (``replaces``: the local file as scanned, checked again before it is
    replaced), or a conflict copy beside ``of_path``, which stays as it is."""

    rel_path: str
    remote: Remote
    kind: DownloadKind
    replaces: LocalFile | None = None
    of_path: str | None = None


@dataclass(frozen=True)
class Trash:
    """Move a local file whose attachment was removed in Plane to the trash."""

    file: LocalFile


@dataclass(frozen=True)
class TwoWayPolicy:
    external_source: str = "plane-sync"
    on_delete: Literal["keep", "delete"] = "keep"
    allow_mass_delete: bool = False
    recent_deletions: int = 0
    takes: Callable[[str], bool] = lambda rel_path: True  # the folder's rules take the path


@dataclass
class TwoWayPlan:
    downloads: list[Download] = field(default_factory=list)
    trash: list[Trash] = field(default_factory=list)
    hold: str | None = None  # removals held back by the mass-delete guard, and why
    held: list[str] = field(default_factory=list)  # their paths
    agreed: dict[str, Base] = field(default_factory=dict)  # path key -> base to record
    forget: list[str] = field(default_factory=list)  # path keys whose base is dropped
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path or name, reason)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # Local files the up planner must not see (being replaced, trashed or held), and paths
    # whose attachments it must leave alone (being downloaded): passed as unsettled.
    withhold: set[str] = field(default_factory=set)
    protect: set[str] = field(default_factory=set)


def version_of(attachment: RemoteAttachment, external_source: str) -> tuple[str, str | None]:
    """An attachment's version key and, for ours, the content's SHA-256."""
    ident = parse_external_id(attachment.external_id)
    if attachment.external_source == external_source and ident is not None:
        return f"sha256:{ident.content_key}", ident.content_key
    return f"id:{attachment.id}", None


def local_name_for(name: str) -> str | None:
    """A person's attachment name as a file name at the folder root, or None.

    No separators, NUL, control or bidi characters (each becomes ``_``), no leading dots or
    spaces (a hidden file would be excluded and fetched again on every pass), not ``.`` or
    ``..``, at most 255 UTF-8 bytes (cut before the extension)."""
    out = []
    for ch in unicodedata.normalize("NFC", name):
        bad = ch in "/\\\x00" or ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")
        out.append("_" if bad else ch)
    cleaned = "".join(out).strip().lstrip(". ").rstrip()
    if not cleaned or cleaned in (".", ".."):
        return None
    return _fit_bytes(cleaned)


def _fit_bytes(name: str, limit: int = MAX_NAME_BYTES) -> str:
    stem, ext = posixpath.splitext(name)
    if len(ext.encode()) > 40:
        stem, ext = name, ""
    while len((stem + ext).encode()) > limit and stem:
        stem = stem[:-1]
    return stem + ext


def conflict_name(rel_path: str, attachment: RemoteAttachment, number: int = 1) -> str:
    """``dir/report (Plane 2026-12-01 1432).pdf``: the attachment's time in UTC (every
    machine derives the same name for the same version); its id when Plane gave no time.
    ``number`` > 1 when that name is taken by other bytes: ``(Plane 2026-12-01 1432 2)``."""
    directory, base = posixpath.split(rel_path)
    stem, ext = posixpath.splitext(base)
    stamp = utc_stamp(attachment.created_at or "") or attachment.id[:8]
    if number > 1:
        stamp = f"{stamp} {number}"
    name = _fit_bytes(f"{stem} (Plane {stamp}){ext}")
    return posixpath.join(directory, name) if directory else name


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::[\d.]+)?"
                  r"(Z|[+-]\d\d:?\d\d)?$")


def utc_stamp(created_at: str) -> str | None:
    """``2026-12-01T15:32:10+01:00`` -> ``2026-12-01 1432`` (UTC; Plane keeps UTC, an offset
    is honoured), or None when it is not such a time. Pure arithmetic: core has no clock."""
    match = _ISO.match(created_at)
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    zone = match.group(6) or "Z"
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[-2:])) * (
        -1 if zone[0] == "-" else 1)
    total = _days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset
    days, minutes = divmod(total, 1440)
    y, m, d = _civil_from_days(days)
    return f"{y:04d}-{m:02d}-{d:02d} {minutes // 60:02d}{minutes % 60:02d}"


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _age(attachment: RemoteAttachment) -> tuple[str, str]:
    return (attachment.created_at or "", attachment.id)


def current_versions(remote: Sequence[RemoteAttachment], known_paths: Iterable[str],
                     external_source: str
                     ) -> tuple[dict[str, Remote], list[tuple[str, str]]]:
    """Each path's current version (by path key), and attachments that have no place."""
    by_name: dict[str, str] = {}
    for path in sorted(known_paths):
        for name in sorted(hand_upload_names(path)):
            by_name.setdefault(name, path)
    current: dict[str, Remote] = {}
    unplaced: list[tuple[str, str]] = []
    for attachment in sorted(remote, key=_age):  # newest last: it wins
        version, sha = version_of(attachment, external_source)
        ident = parse_external_id(attachment.external_id)
        if sha is not None and ident is not None:
            if not ident.hint_is_exact:
                unplaced.append((attachment.name, REASON_UNPLACEABLE))
                continue
            path = normalize_rel_path(ident.rel_path_hint)
        else:
            found = by_name.get(attachment.name)
            path = found if found is not None else local_name_for(attachment.name) or ""
            if not path:
                unplaced.append((attachment.name, REASON_BAD_NAME))
                continue
        current[path_key_for(path)] = Remote(attachment, path, version, sha)
    return current, unplaced


def plan_both(local: Sequence[LocalFile], remote: Sequence[RemoteAttachment],
              bases: Mapping[str, Base], policy: TwoWayPolicy, *,
              unsettled: Collection[str] = ()) -> TwoWayPlan:
    """What the download side does this pass (see the module docstring)."""
    files = {path_key_for(f.rel_path): f for f in local}
    known = [normalize_rel_path(f.rel_path) for f in local]
    known += [b.rel_path for b in bases.values()]
    current, unplaced = current_versions(remote, known, policy.external_source)
    local_paths = {normalize_rel_path(f.rel_path): f for f in local}
    busy = {path_key_for(p) for p in unsettled}
    result = TwoWayPlan(skipped=unplaced)
    removed: list[LocalFile] = []
    for key in sorted(set(files) | set(current) | set(bases)):
        if key in busy:
            continue  # still being written or unreadable: decided once it is read
        file, now, base = files.get(key), current.get(key), bases.get(key)
        if file is not None and now is not None:
            _both_present(key, file, now, base, local_paths, result)
        elif file is not None:
            if base is None:
                continue  # a new local file: the up planner uploads it
            if file.sha256.lower() == base.sha256 and policy.on_delete == "delete":
                removed.append(file)
                continue
            result.forget.append(key)  # uploaded again as a new file
            if file.sha256.lower() == base.sha256:
                result.kept.append((file.rel_path, REASON_REMOVED_KEEP))
        elif now is not None:
            if base is not None and base.version == now.version:
                continue  # deleted here: not fetched again until the attachment changes
            if not policy.takes(now.rel_path):
                result.skipped.append((now.rel_path, REASON_EXCLUDED))
                continue
            result.downloads.append(Download(now.rel_path, now, "new"))
            result.protect.add(now.rel_path)
        else:
            result.forget.append(key)
    _guard(removed, len(files), policy, result)
    return result


def _both_present(key: str, file: LocalFile, now: Remote, base: Base | None,
                  local_paths: Mapping[str, LocalFile], result: TwoWayPlan) -> None:
    same = now.same_content(file)
    sha = file.sha256.lower()
    if same is None:
        return  # a person's attachment without an MD5 yet: the up planner waits for it
    if same:
        path = normalize_rel_path(file.rel_path)
        if base is None or base.sha256 != sha or base.version != now.version:
            result.agreed[key] = Base(path, sha, now.version)
        if now.sha256 is None:
            # In sync with a person's attachment, maybe under a name the up planner would not
            # match (cleaned for this filesystem): it must not upload it as a file of ours.
            result.withhold.add(path)
            result.protect.add(path)
        return
    local_changed = base is None or base.sha256 != sha
    remote_changed = base is None or base.version != now.version
    if not remote_changed:
        return  # changed here only: the up planner uploads it
    path = normalize_rel_path(file.rel_path)
    if not local_changed:
        result.downloads.append(Download(path, now, "update", replaces=file))
        result.withhold.add(path)
        result.protect.add(path)
        return
    for number in range(1, 100):
        copy = conflict_name(path, now.attachment, number)
        existing = local_paths.get(copy)
        if existing is None:
            result.downloads.append(Download(copy, now, "conflict", of_path=path))
            return
        if now.same_content(existing) is not False:
            return  # copied on an earlier pass; the local version is uploaded meanwhile


def _guard(removed: list[LocalFile], held: int, policy: TwoWayPolicy,
           result: TwoWayPlan) -> None:
    """The mass-delete guard, as the up planner counts it, for files removed in Plane."""
    if not removed:
        return
    losing = len(removed) + policy.recent_deletions
    total = held + policy.recent_deletions
    if 2 * losing > total and not policy.allow_mass_delete:
        result.hold = (f"{losing} of {total} files were removed in Plane; removing more "
                       "than half here looks like a mistake, so none is moved to the trash")
        result.held = [f.rel_path for f in removed]
        result.withhold.update(normalize_rel_path(f.rel_path) for f in removed)
        return
    result.trash = [Trash(f) for f in removed]
    result.withhold.update(normalize_rel_path(f.rel_path) for f in removed)
