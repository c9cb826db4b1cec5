"""The three-step upload: create (Plane) -> presigned POST (storage) -> complete (Plane).

Contract of :func:`upload_file`:

- Refuses, before any network call, a file that is empty, over ``size_limit``, a symlink, not
  a regular file, unreadable, or whose size differs from the declared one: LocalFileError
  with ``reason`` in {"empty", "too-large", "symlink", "not-regular", "missing",
  "unreadable", "changed", "unsafe-path"}.
- With ``root`` (the configured folder), the file is opened through the directory chain
  below ``root`` (see :func:`open_beneath`): no component may be a symlink, so a directory
  swapped for a link between the scan and the upload cannot send a file from elsewhere.
  Without ``root`` only the last component is checked. The hash of the bytes sent, compared
  with the scanned sha256, does NOT make up for that: the comparison happens after the
  bytes have left for the storage host, so it protects integrity, not confidentiality.
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

import contextlib
import errno
import hmac
import os
import stat
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import BinaryIO

import httpx
import structlog

from plane_sync.core.models import CreateConflict, UploadResult, UploadTicket, WorkItem
from plane_sync.core.sizes import human_size
from plane_sync.errors import (
    AuthError,
    FileChangedDuringUpload,
    LocalFileError,
    PlaneError,
    PlaneUnreachable,
    StorageRejected,
    UploadError,
)
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.ratelimit import Reservation
from plane_sync.remote.storage import (
    FileBody,
    ReadGuard,
    ShortFile,
    expired_policy_cause,
    policy_expiry,
    post_form,
    reopen,
    s3_error,
)

log = structlog.get_logger(__name__)

_PASS_THROUGH = (AuthError, PlaneUnreachable)
POLICY_MARGIN = 30.0  # seconds: do not start a retry that could outlive the policy


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the scan must not block open() until a writer comes;
# it changes nothing for regular files.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_beneath(root: str | os.PathLike[str], rel_path: str) -> BinaryIO:
    """Open ``root/rel_path`` for reading, never leaving ``root`` through a link.

    ``root`` itself is opened normally (the user chose that path, links included); every
    component below it is opened relative to its parent's descriptor with O_NOFOLLOW, the
    way the scan walked it. ``rel_path`` must be a plain relative POSIX path: an absolute
    path, ``..``, ``.`` or an empty component raises ValueError. OSError passes through
    (ELOOP: a component is a symlink; ENOTDIR: a directory was replaced by a file).
    """
    parts = rel_path.split("/")
    if rel_path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{rel_path!r} is not a plain path inside the folder")
    dir_fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
            except NotADirectoryError:
                # Linux answers ENOTDIR, not ELOOP, for O_DIRECTORY|O_NOFOLLOW on a link.
                if stat.S_ISLNK(os.lstat(part, dir_fd=dir_fd).st_mode):
                    raise OSError(errno.ELOOP, "symbolic link", part) from None
                raise
            os.close(dir_fd)
            dir_fd = next_fd
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return os.fdopen(fd, "rb", buffering=0)


def _relative_to_root(path: str, root: str | os.PathLike[str]) -> str:
    """``path`` as a POSIX path relative to ``root`` (lexically; links are not resolved)."""
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        return pure.as_posix()
    try:
        return pure.relative_to(PurePosixPath(os.fspath(root))).as_posix()
    except ValueError:
        raise LocalFileError(f"{path} is not inside the folder {os.fspath(root)}.",
                             path=path, reason="unsafe-path") from None


def open_for_upload(path: str, *, size: int, size_limit: int,
                    root: str | os.PathLike[str] | None = None) -> BinaryIO:
    """Open ``path`` (never through a symlink; with ``root``, through no symlink below
    ``root`` at all) after the checks that need no network."""
    if size <= 0:
        raise LocalFileError(f"{path} is empty; Plane cannot store empty attachments.",
                             path=path, reason="empty")
    if size > size_limit:
        raise LocalFileError(
            f"{path} is {human_size(size)}, over the server's file size limit of "
            f"{human_size(size_limit)}. Raise FILE_SIZE_LIMIT on the Plane server or keep "
            "the file elsewhere.",
            path=path, reason="too-large")
    rel_path = None if root is None else _relative_to_root(path, root)
    try:
        file = reopen(path) if root is None or rel_path is None else open_beneath(root, rel_path)
    except ValueError as exc:
        raise LocalFileError(f"{path} cannot be uploaded: {exc}.", path=path,
                             reason="unsafe-path") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LocalFileError(f"{path} is (or lies under) a symbolic link; links are "
                                 "never followed.", path=path, reason="symlink") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
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
                storage_client: httpx.Client | None = None,
                root: str | os.PathLike[str] | None = None,
                on_progress: Callable[[int], None] | None = None,
                read_guard: ReadGuard = contextlib.nullcontext,
                ) -> UploadResult | CreateConflict:
    """Upload one file as an attachment of ``work_item`` (contract: module docstring).

    ``root``: the configured folder ``path`` lies in (``path`` may then also be relative
    to it); give it whenever there is one, so no symlink below it is ever followed.
    ``on_progress(nbytes)`` runs for every chunk sent to storage. ``read_guard()`` wraps
    opening the file and each read of it (the daemon's I/O watchdog on a share).
    """
    path = os.fspath(path)
    started = time.monotonic()
    with read_guard():
        file = open_for_upload(path, size=size, size_limit=size_limit, root=root)
    # The create keeps the rate limit's room for the complete (or the abandoning delete).
    reservation = client.limiter.reservation()
    try:
        return _upload(client, work_item, file, path, reservation, started, name=name,
                       mime_type=mime_type, size=size, sha256=sha256, external_id=external_id,
                       external_source=external_source, on_created=on_created,
                       storage_client=storage_client, on_progress=on_progress,
                       read_guard=read_guard)
    finally:
        reservation.release()


def _upload(client: PlaneClient, work_item: WorkItem, file: BinaryIO, path: str,
            reservation: Reservation, started: float, *, name: str, mime_type: str,
            size: int, sha256: str, external_id: str | None, external_source: str | None,
            on_created: Callable[[str], None] | None, storage_client: httpx.Client | None,
            on_progress: Callable[[int], None] | None,
            read_guard: ReadGuard) -> UploadResult | CreateConflict:
    with file:
        try:
            created = client.create_attachment(work_item, name=name, mime_type=mime_type,
                                               size=size, external_id=external_id,
                                               external_source=external_source,
                                               reservation=reservation)
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
                      sha256=sha256, on_progress=on_progress, reservation=reservation,
                      read_guard=read_guard)
    try:
        client.complete_attachment(work_item, ticket.attachment_id, reservation=reservation)
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
           size: int, sha256: str, on_progress: Callable[[int], None] | None,
           reservation: Reservation, read_guard: ReadGuard) -> int:
    """Step 2 with retries; on any failure delete the pending attachment, then raise."""
    expires = policy_expiry(ticket.fields)
    host = httpx.URL(ticket.url).host
    content_type = ticket.fields.get("Content-Type", mime_type)
    attempt = 0
    while True:
        attempt += 1
        file.seek(0)  # the same open file (same inode) on every attempt
        body = FileBody(ticket.fields, file, filename=name, content_type=content_type,
                        size=size, on_chunk=on_progress, read_guard=read_guard)
        try:
            resp = post_form(storage, ticket.url, body)
        except ShortFile as exc:
            _abandon(client, work_item, ticket, path, reservation)
            raise FileChangedDuringUpload(
                f"{path} changed while it was being sent ({exc}); the partial upload was "
                "deleted and the file will be uploaded again once it settles.",
                step="storage", path=path) from None
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__} talking to {host}"
            if _may_retry(client, attempt, expires):
                _pause(client, attempt, failure, path)
                continue
            _abandon(client, work_item, ticket, path, reservation)
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
        _abandon(client, work_item, ticket, path, reservation)
        advice = _advice(status, code)
        expired = status == 403 and "expired" in message.lower()
        if expired:
            # Every file would fail the same way: say why once, from the clocks at hand.
            advice = expired_policy_cause(ticket.fields, resp.headers.get("date"), time.time())
        raise StorageRejected(
            f"Storage host {host} answered {status} {code or ''} ({message or 'no message'}) "
            f"to the upload of {path}. {advice}", status=status, code=code,
            path=path, expired_policy=expired, cause=advice if expired else "")
    if not hmac.compare_digest(body.sha256.hexdigest(), sha256.lower()):
        _abandon(client, work_item, ticket, path, reservation)
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


def _abandon(client: PlaneClient, work_item: WorkItem, ticket: UploadTicket, path: str,
             reservation: Reservation) -> None:
    """Delete the pending attachment so it does not block its external id; best effort."""
    try:
        client.delete_attachment(work_item, ticket.attachment_id, reservation=reservation)
        log.info("upload.abandoned", path=path, attachment_id=ticket.attachment_id)
    except PlaneError as exc:
        log.warning("upload.abandon_failed", path=path, attachment_id=ticket.attachment_id,
                    error=exc.title)
