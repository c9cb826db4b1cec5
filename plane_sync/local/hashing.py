"""Hash a local file once (sha256 + md5), refusing symlinks and files that change.

sha256 identifies the content in ``external_id``; md5 is what S3 reports as the
ETag of a single-part upload, so both come from one read of the file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

from plane_sync.errors import LocalFileError
from plane_sync.local.iowatch import beat

CHUNK_SIZE = 1024 * 1024

# O_NONBLOCK: if a FIFO slipped in between listing and opening, open() must not
# hang waiting for a writer; it has no effect on regular files.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class HashedFile:
    """The digests and the identity of the file they were computed from."""

    sha256: str
    md5: str
    dev: int
    ino: int
    size: int
    mtime_ns: int


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def hash_file_identified(path: str | os.PathLike[str], *, dir_fd: int | None = None,
                         display_path: str | None = None) -> HashedFile:
    """Hash ``path`` (relative to ``dir_fd`` when given) and say which file was hashed.

    Raises LocalFileError with ``reason``:
    ``symlink`` (the last component is a symbolic link), ``special`` (not a regular
    file), ``missing`` (gone), ``unreadable`` (permission or I/O error) or
    ``changing`` (size, mtime or inode differ before and after reading, or the
    bytes read do not add up to the size: retry later).
    """
    shown = display_path if display_path is not None else os.fsdecode(path)
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _open_error(exc, shown) from exc
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise LocalFileError(f"{shown} is not a regular file", path=shown,
                                 reason="special")
        sha256 = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        total = 0
        try:
            while chunk := os.read(fd, CHUNK_SIZE):
                beat()  # for the I/O watchdog: a read of a hung share never gets here
                sha256.update(chunk)
                md5.update(chunk)
                total += len(chunk)
            after = os.fstat(fd)
        except OSError as exc:
            raise LocalFileError(f"cannot read {shown}: {exc.strerror or exc}", path=shown,
                                 reason="unreadable") from exc
    finally:
        os.close(fd)
    if _identity(before) != _identity(after) or total != after.st_size:
        raise LocalFileError(f"{shown} changed while hashing; it will be retried later",
                             path=shown, reason="changing")
    return HashedFile(sha256=sha256.hexdigest(), md5=md5.hexdigest(), dev=after.st_dev,
                      ino=after.st_ino, size=after.st_size, mtime_ns=after.st_mtime_ns)


def hash_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(sha256_hex, md5_hex)`` of a regular file; see hash_file_identified."""
    hashed = hash_file_identified(path)
    return hashed.sha256, hashed.md5


def _open_error(exc: OSError, shown: str) -> LocalFileError:
    if exc.errno == errno.ELOOP:
        return LocalFileError(f"{shown} is a symbolic link: not followed", path=shown,
                              reason="symlink")
    if isinstance(exc, FileNotFoundError):
        return LocalFileError(f"{shown} no longer exists", path=shown, reason="missing")
    if exc.errno in (errno.ENXIO, errno.ENODEV):  # sockets, devices without a driver
        return LocalFileError(f"{shown} is not a regular file", path=shown, reason="special")
    return LocalFileError(f"cannot open {shown}: {exc.strerror or exc}", path=shown,
                          reason="unreadable")
