"""The three-step upload: create (Plane) -> presigned POST (storage) -> complete (Plane).

Contract of :func:`upload_file`:

- Refuses, before any network call, a file that is empty, over ``size_limit``, a symlink, not
  a regular file, unreadable, or whose size differs from the declared one: LocalFileError
  with ``reason`` in {"empty", "too-large", "symlink", "not-regular", "missing",
  "unreadable", "changed"}.
- Returns the :class:`CreateConflict` (not an exception) when Plane answers 409: an
  attachment with this external id/source already exists (possibly pending). The caller
  decides: compare with the listing, then reuse it, or delete it and upload again.
- ``on_created(attachment_id)`` runs right after the create and before any byte goes to
  storage, so a journal can record the pending attachment.
- Failures raise UploadError (or a subclass) whose ``step`` is "create", "storage" or
  "complete" and whose ``__cause__`` is the underlying error, except AuthError and
  PlaneUnreachable from the Plane API, which pass through unwrapped: they concern the whole
  connection, not this file.
- Nothing is left that a later run cannot clean up: when storage refuses (4xx), cannot be
  reached after retries, or the bytes sent differ from ``sha256``, the pending attachment is
  deleted. Complete (PATCH) is never sent unless storage answered 204; if the PATCH fails
  the attachment stays pending (invisible in listings) under the id given to on_created.
"""

from __future__ import annotations

import errno
import hmac
import os
import stat
import time
from collections.abc import Callable
from typing import BinaryIO

import httpx
import structlog

from plane_sync.errors import (
    AuthError,
    FileChangedDuringUpload,
    LocalFileError,
    PlaneError,
    PlaneUnreachable,
    StorageRejected,
    UploadError,
)
from plane_sync.models import CreateConflict, UploadResult, UploadTicket, WorkItem
from plane_sync.plane import PlaneClient
from plane_sync.storage import FileBody, ShortFile, policy_expiry, post_form, reopen, s3_error

log = structlog.get_logger(__name__)

_PASS_THROUGH = (AuthError, PlaneUnreachable)
POLICY_MARGIN = 30.0  # seconds: do not start a retry that could outlive the policy


def open_for_upload(path: str, *, size: int, size_limit: int) -> BinaryIO:
    """Open ``path`` (never through a symlink) after the checks that need no network."""
    if size <= 0:
        raise LocalFileError(f"{path} is empty; Plane cannot store empty attachments.",
                             path=path, reason="empty")
    if size > size_limit:
        raise LocalFileError(
            f"{path} is {size} bytes, over the server's file size limit of {size_limit} "
            "bytes. Raise FILE_SIZE_LIMIT on the Plane server or keep the file elsewhere.",
            path=path, reason="too-large")
    try:
        file = reopen(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LocalFileError(f"{path} is a symbolic link; links are never followed.",
                                 path=path, reason="symlink") from None
        if exc.errno == errno.ENOENT:
            raise LocalFileError(f"{path} no longer exists.", path=path,
                                 reason="missing") from None
        raise LocalFileError(f"{path} cannot be read ({exc.strerror}). Check its "
                             "permissions.", path=path, reason="unreadable") from None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        raise LocalFileError(f"{path} is not a regular file.", path=path, reason="not-regular")
    if info.st_size != size:
        file.close()
        raise LocalFileError(
            f"{path} is now {info.st_size} bytes, not the {size} it had when scanned; it is "
            "still changing and will be picked up again once it settles.",
            path=path, reason="changed")
    return file


def upload_file(client: PlaneClient, work_item: WorkItem, path: str | os.PathLike[str], *,
                name: str, mime_type: str, size: int, sha256: str,
                external_id: str | None = None, external_source: str | None = None,
                size_limit: int, on_created: Callable[[str], None] | None = None,
                storage_client: httpx.Client | None = None) -> UploadResult | CreateConflict:
    """Upload one file as an attachment of ``work_item`` (contract: module docstring)."""
    path = os.fspath(path)
    started = time.monotonic()
    file = open_for_upload(path, size=size, size_limit=size_limit)
    with file:
        try:
            created = client.create_attachment(work_item, name=name, mime_type=mime_type,
                                               size=size, external_id=external_id,
                                               external_source=external_source)
        except _PASS_THROUGH:
            raise
        except PlaneError as exc:
            raise UploadError(f"Creating the attachment for {path} failed: {exc}",
                              step="create", path=path) from exc
        if isinstance(created, CreateConflict):
            log.info("upload.conflict", path=path, existing_id=created.existing_id)
            return created
        ticket = created
        log.info("upload.created", path=path, attachment_id=ticket.attachment_id,
                 work_item=work_item.label)
        if on_created is not None:
            on_created(ticket.attachment_id)
        sent = _store(client, storage_client or client.storage_client, work_item, ticket,
                      file, path=path, name=name, mime_type=mime_type, size=size,
                      sha256=sha256)
    try:
        client.complete_attachment(work_item, ticket.attachment_id)
    except _PASS_THROUGH:
        raise
    except PlaneError as exc:
        raise UploadError(
            f"{path} reached storage but Plane did not mark it uploaded: {exc}. It stays "
            "pending (invisible) until completed or deleted.", step="complete", path=path,
            attachment_id=ticket.attachment_id) from exc
    seconds = time.monotonic() - started
    # The caller logs the one upload.done event (it knows the folder and the work item).
    log.debug("upload.completed", path=path, attachment_id=ticket.attachment_id, bytes=sent,
              seconds=round(seconds, 3))
    return UploadResult(attachment_id=ticket.attachment_id, bytes_sent=sent, seconds=seconds)


def _store(client: PlaneClient, storage: httpx.Client, work_item: WorkItem,
           ticket: UploadTicket, file: BinaryIO, *, path: str, name: str, mime_type: str,
           size: int, sha256: str) -> int:
    """Step 2 with retries; on any failure delete the pending attachment, then raise."""
    expires = policy_expiry(ticket.fields)
    host = httpx.URL(ticket.url).host
    content_type = ticket.fields.get("Content-Type", mime_type)
    attempt = 0
    while True:
        attempt += 1
        file.seek(0)  # the same open file (same inode) on every attempt
        body = FileBody(ticket.fields, file, filename=name, content_type=content_type,
                        size=size)
        try:
            resp = post_form(storage, ticket.url, body)
        except ShortFile as exc:
            _abandon(client, work_item, ticket, path)
            raise FileChangedDuringUpload(
                f"{path} changed while it was being sent ({exc}); the partial upload was "
                "deleted and the file will be uploaded again once it settles.",
                step="storage", path=path) from None
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__} talking to {host}"
            if _may_retry(client, attempt, expires):
                _pause(client, attempt, failure, path)
                continue
            _abandon(client, work_item, ticket, path)
            raise UploadError(f"Storage host {host} could not be reached to upload {path} "
                              f"({failure}). Check that this machine can reach the upload "
                              "URL Plane hands out (USE_MINIO / AWS_S3_ENDPOINT_URL).",
                              step="storage", path=path) from None
        status = resp.status_code
        if status == 204:
            break
        code, message = s3_error(resp)
        if status >= 500 and _may_retry(client, attempt, expires):
            _pause(client, attempt, f"{status} {code}".strip(), path)
            continue
        _abandon(client, work_item, ticket, path)
        raise StorageRejected(
            f"Storage host {host} answered {status} {code or ''} ({message or 'no message'}) "
            f"to the upload of {path}. {_advice(status, code)}", status=status, code=code,
            path=path)
    if not hmac.compare_digest(body.sha256.hexdigest(), sha256.lower()):
        _abandon(client, work_item, ticket, path)
        raise FileChangedDuringUpload(
            f"{path} changed while it was being uploaded: the bytes sent do not match the "
            "sha256 it had when scanned. The upload was deleted and the file will be "
            "uploaded again once it settles.", step="storage", path=path)
    log.debug("upload.stored", path=path, attachment_id=ticket.attachment_id, bytes=body.sent)
    return body.sent


def _may_retry(client: PlaneClient, attempt: int, expires: float | None) -> bool:
    if attempt >= client.retry.attempts:
        return False
    return expires is None or time.time() < expires - POLICY_MARGIN


def _pause(client: PlaneClient, attempt: int, failure: str, path: str) -> None:
    wait = client.retry.backoff(attempt)
    log.info("upload.retry", step="storage", path=path, attempt=attempt, error=failure,
             wait=round(wait, 3))
    client.sleep(wait)


def _advice(status: int, code: str) -> str:
    if code == "EntityTooLarge" or status == 413:
        return "The file is bigger than the size Plane allowed; check FILE_SIZE_LIMIT."
    if code == "AccessDenied" or status == 403:
        return ("The upload policy was refused (expired, or Content-Type/key mismatch); "
                "it will be retried with fresh credentials.")
    return "The pending attachment was deleted; the upload will be retried later."


def _abandon(client: PlaneClient, work_item: WorkItem, ticket: UploadTicket, path: str) -> None:
    """Delete the pending attachment so it does not block its external id; best effort."""
    try:
        client.delete_attachment(work_item, ticket.attachment_id)
        log.info("upload.abandoned", path=path, attachment_id=ticket.attachment_id)
    except PlaneError as exc:
        log.warning("upload.abandon_failed", path=path, attachment_id=ticket.attachment_id,
                    error=exc.title)
