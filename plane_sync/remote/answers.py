"""What Plane's answers mean: an attachment list entry and a create answer, read defensively
(Plane leaves fields null, empty or partial depending on its version and on whether its
background task has read the stored object yet)."""

from __future__ import annotations

from typing import Any

from plane_sync.core.models import RemoteAttachment, UploadTicket
from plane_sync.errors import UnexpectedResponse


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_attachment(entry: dict[str, Any]) -> RemoteAttachment:
    """One list entry -> RemoteAttachment; storage_metadata may be {}, null or partial."""
    attributes = entry.get("attributes") or {}
    raw_meta = entry.get("storage_metadata")
    meta = raw_meta or {}
    etag = meta.get("ETag") if isinstance(meta, dict) else None
    length = meta.get("ContentLength") if isinstance(meta, dict) else None
    size = _as_int(attributes.get("size"))
    if size is None:
        size = _as_int(entry.get("size")) or 0
    return RemoteAttachment(
        id=str(entry["id"]),
        name=str(attributes.get("name") or ""),
        size=size,
        mime_type=str(attributes.get("type") or ""),
        external_source=entry.get("external_source") or None,
        external_id=entry.get("external_id") or None,
        etag_md5=etag.strip('"') if isinstance(etag, str) and etag.strip('"') else None,
        content_length=_as_int(length),
        created_at=entry.get("created_at"),
        # {} until Plane's background task has read the object's metadata; null if it failed.
        metadata_pending=isinstance(raw_meta, dict) and not raw_meta,
    )


def parse_ticket(body: Any, what: str) -> UploadTicket:
    """The create answer -> UploadTicket; ``upload_data: null`` (presign failed) is an error."""
    if not isinstance(body, dict):
        raise UnexpectedResponse(f"Plane's answer to {what} is not an object.")
    upload = body.get("upload_data")
    attachment = body.get("attachment") or {}
    attachment_id = body.get("asset_id") or attachment.get("id")
    if not isinstance(upload, dict) or not upload.get("url") or not attachment_id:
        raise UnexpectedResponse(
            f"Plane gave no upload credentials when asked to {what} (upload_data is "
            f"{'missing' if upload is None else 'incomplete'}). Check the Plane server's "
            "storage settings (AWS_S3_* / MinIO).")
    fields = upload.get("fields") or {}
    return UploadTicket(attachment_id=str(attachment_id), url=str(upload["url"]),
                        fields={str(k): str(v) for k, v in fields.items()})
