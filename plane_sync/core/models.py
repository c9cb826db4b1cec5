"""Frozen value types that cross layers. No I/O, no behaviour beyond small helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkItem:
    """A Plane work item that attachments belong to."""

    id: str
    project_id: str
    name: str = ""
    identifier: str | None = None  # "PROJ-12" when known
    sequence_id: int | None = None

    @property
    def label(self) -> str:
        return self.identifier or self.id


@dataclass(frozen=True)
class RemoteAttachment:
    """One uploaded attachment as the list endpoint shows it."""

    id: str
    name: str  # attributes.name: Plane's sanitised display name
    size: int  # attributes.size: the *declared* size, clamped to the server limit
    mime_type: str
    external_source: str | None = None
    external_id: str | None = None
    etag_md5: str | None = None  # storage_metadata.ETag without quotes, when filled in
    content_length: int | None = None  # storage_metadata.ContentLength, when filled in
    created_at: str | None = None
    metadata_pending: bool = False  # storage_metadata is {}: Plane has not filled it in yet


@dataclass(frozen=True)
class UploadTicket:
    """Answer to a successful create: where and how to POST the bytes."""

    attachment_id: str
    url: str
    fields: Mapping[str, str] = field(default_factory=dict)  # send verbatim, in this order


@dataclass(frozen=True)
class CreateConflict:
    """Answer 409 to a create: an attachment with this external id/source already exists.

    ``after_resend``: the create was sent more than once (an answer lost to a timeout, a
    dropped connection or a 5xx), so the attachment may be the one our first try made."""

    existing_id: str
    after_resend: bool = False


CreateResult = UploadTicket | CreateConflict


@dataclass(frozen=True)
class LocalFile:
    """A regular file inside a configured folder, as the scanner saw it."""

    rel_path: str  # POSIX path relative to the folder root
    size: int
    mtime_ns: int
    sha256: str  # hex
    md5: str  # hex; matches the ETag of single-part S3 uploads


@dataclass(frozen=True)
class UploadResult:
    attachment_id: str
    bytes_sent: int
    seconds: float
