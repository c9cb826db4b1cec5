"""One download into a folder (``direction: both``): atomic, verified, never outside it.

The bytes stream (in the client's chunks: memory stays bounded for any size) into a hidden
temp file in the file's own directory (``.plane-sync-<random>.part``, which every scan leaves
out, see :func:`plane_sync.local.ignore.is_download_temp`); its path is written to the state
database first, so a crash leaves only a temp file that the next start removes
(:func:`remove_leftovers`). Then the size, the MD5 against the storage ETag (when Plane has
one that is a plain MD5) and, for our attachments, the SHA-256 their external id names are
checked; the file is fsynced, given the attachment's time as mtime, and put in place:

- a new file or conflict copy with ``link()``, which fails when something appeared at that
  path meanwhile (nothing is overwritten; the next pass decides again);
- a newer version of an unchanged file with ``rename()``, after checking it is still the
  file the pass scanned and copying it to the trash.

Then the directory is fsynced and the synced base recorded (no echo: the file is not
uploaded back). A reader sees the old file or the new one, never part of one.

:class:`DownloadJob` has the shape of a transfer job (``key``, ``size``, ``run()``,
``succeeded``) so a pool of transfer workers can run it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import stat
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from plane_sync.core.identity import path_key_for
from plane_sync.core.models import RemoteAttachment
from plane_sync.core.twoway import Base, Download
from plane_sync.errors import PlaneError
from plane_sync.local.ignore import DOWNLOAD_TEMP_PREFIX, DOWNLOAD_TEMP_SUFFIX, is_download_temp
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.safepath import open_parent
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.trash import Trash
from plane_sync.sync.twoway_tables import RemoteEvent

log = structlog.get_logger(__name__)


class DownloadRefused(Exception):
    """The download was not put in place; the message says why (for the report)."""


class _Verifier:
    """A write-only sink that counts and hashes what passes through to the temp file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()  # noqa: S324 - compared with S3's ETag, not for security

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)
        self.sha256.update(data)
        self.md5.update(data)
        return len(data)


def attachment_time(attachment: RemoteAttachment) -> float | None:
    """``created_at`` as a Unix time (Plane keeps UTC), or None."""
    try:
        when = datetime.fromisoformat(attachment.created_at or "")
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class DownloadJob:
    """Carry out one :class:`~plane_sync.core.twoway.Download`; ``succeeded`` and ``error``
    tell how it went. PlaneErrors the caller must see (``must_raise``) are re-raised after
    cleaning up."""

    def __init__(self, client: PlaneClient, state: StateDB, target: Target, action: Download,
                 trash: Trash, *, clock: Callable[[], float] = time.time,
                 must_raise: Callable[[PlaneError], bool] = lambda exc: False) -> None:
        self.client, self.state, self.target, self.action = client, state, target, action
        self.trash = trash
        self.clock = clock
        self.must_raise = must_raise
        self.key: Hashable = (target.key, action.rel_path)
        self.size = action.remote.attachment.size
        self.succeeded: bool | None = None
        self.error: str | None = None
        self.sha256: str | None = None

    def run(self) -> None:
        try:
            self._run()
            self.succeeded = True
        except PlaneError as exc:
            self.succeeded, self.error = False, str(exc)
            if self.must_raise(exc):
                raise
        except DownloadRefused as exc:
            self.succeeded, self.error = False, str(exc)
        except OSError as exc:
            self.succeeded = False
            self.error = f"could not write it here: {exc.strerror or exc}"

    def _run(self) -> None:
        action = self.action
        dir_fd, name = open_parent(self.target.root, action.rel_path, create=True)
        try:
            temp = f"{DOWNLOAD_TEMP_PREFIX}{secrets.token_hex(8)}{DOWNLOAD_TEMP_SUFFIX}"
            temp_path = posixpath.join(posixpath.dirname(action.rel_path), temp)
            self.state.add_temp_file(self.target.key, temp_path, self.clock())
            try:
                self._fetch(dir_fd, temp)
                self._put_in_place(dir_fd, temp, name)
                os.fsync(dir_fd)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=dir_fd)
                self.state.remove_temp_file(temp_path)
        finally:
            os.close(dir_fd)
        self._record()

    def _fetch(self, dir_fd: int, temp: str) -> None:
        attachment = self.action.remote.attachment
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666, dir_fd=dir_fd)
        try:
            sink = _Verifier(fd)
            self.client.download(self.target.work_item, attachment.id, sink)  # type: ignore[arg-type]
            self._check(sink)
            os.fsync(fd)
            when = attachment_time(attachment)
            if when is not None:
                ns = int(when * 1e9)
                os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def _check(self, sink: _Verifier) -> None:
        attachment = self.action.remote.attachment
        expected = self.action.remote.sha256
        declared = (attachment.content_length if attachment.content_length is not None
                    else attachment.size)
        if sink.size != declared:
            raise DownloadRefused(f"storage sent {sink.size} bytes, Plane lists {declared}; "
                                  "not put in place, tried again next pass")
        etag = (attachment.etag_md5 or "").lower()
        if etag and "-" not in etag and sink.md5.hexdigest() != etag:
            raise DownloadRefused("the bytes do not match the storage checksum (MD5); not put "
                                  "in place, tried again next pass")
        if expected is not None and sink.sha256.hexdigest() != expected:
            raise DownloadRefused("the bytes are not the version its external id names "
                                  "(SHA-256); not put in place, tried again next pass")
        self.sha256 = sink.sha256.hexdigest()

    def _put_in_place(self, dir_fd: int, temp: str, name: str) -> None:
        old = self.action.replaces
        if old is None:
            try:
                os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd,
                        follow_symlinks=False)
            except FileExistsError:
                raise DownloadRefused("a file appeared at this path meanwhile; nothing "
                                      "overwritten, looked at again next pass") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                     errno.ENOSYS, errno.EMLINK):
                    raise
                # No hard links here (some network filesystems): check, then rename.
                if _exists(dir_fd, name):
                    raise DownloadRefused("a file appeared at this path meanwhile; nothing "
                                          "overwritten, looked at again next pass") from None
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if (st is None or not stat.S_ISREG(st.st_mode) or st.st_size != old.size
                or st.st_mtime_ns != old.mtime_ns):
            raise DownloadRefused("the file changed here meanwhile; kept as it is, looked at "
                                  "again next pass")
        self.trash.copy_in(dir_fd, name, self.action.rel_path, self.clock())
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    def _record(self) -> None:
        action, target = self.action, self.target
        assert self.sha256 is not None
        now = self.clock()
        if action.kind == "conflict":
            detail = f"Plane's version of {action.of_path} (changed on both sides)"
            kind = "conflict"
        else:
            self.state.set_synced(target.key, target.work_item.id, [(
                path_key_for(action.rel_path),
                Base(action.rel_path, self.sha256, action.remote.version))])
            detail = f"{action.remote.attachment.name} ({action.kind})"
            kind = "downloaded"
        self.state.add_remote_event(RemoteEvent(target.key, kind, action.rel_path, detail, now))
        log.info("file.downloaded", folder=str(target.root), path=action.rel_path,
                 work_item=target.label, kind=action.kind, bytes=self.size)


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def remove_leftovers(state: StateDB, target_key: str, root: Path) -> int:
    """Remove temp files a crash left in the folder (their paths are relative to ``root``);
    how many were there."""
    removed = 0
    for path in state.temp_files(target_key):
        if is_download_temp(path):
            try:
                dir_fd, name = open_parent(root, path, create=False)
            except OSError:
                dir_fd = -1  # its directory is gone (or not a directory any more)
            if dir_fd >= 0:
                try:
                    os.unlink(name, dir_fd=dir_fd)
                    removed += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log.warning("download.leftover", path=path, error=str(exc))
                    continue
                finally:
                    os.close(dir_fd)
        state.remove_temp_file(path)
    return removed
