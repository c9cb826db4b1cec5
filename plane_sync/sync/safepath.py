"""Open a file's directory inside a folder without ever leaving the folder.

Every directory below the root is opened with ``O_NOFOLLOW``: a symlinked directory on the
path (or one swapped in while we work) makes the call fail instead of writing elsewhere.
Then everything is done relative to that directory's descriptor (``dir_fd``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class OutsideFolder(OSError):
    """A path component is a symlink, a file, or otherwise not a plain directory."""


def open_parent(root: Path, rel_path: str, *, create: bool) -> tuple[int, str]:
    """The descriptor of ``rel_path``'s directory and the file's own name; the caller closes
    the descriptor. ``create``: make missing directories (mode 0o777 & ~umask)."""
    parts = rel_path.split("/")
    name = parts[-1]
    if not name or any(p in ("", ".", "..") for p in parts):
        raise OutsideFolder(errno.EINVAL, f"not a plain relative path: {rel_path!r}")
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
                child = os.open(part, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise OutsideFolder(exc.errno, f"{part!r} in {rel_path!r} is a symlink "
                                        "or a file, not a directory of the folder") from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, name
