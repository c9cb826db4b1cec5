"""The trash: where ``direction: both`` puts local files it removes or replaces.

A file whose attachment was removed in Plane is moved here (never unlinked); a file about
to be replaced by a newer version from Plane is copied here first. Each entry is
``<state dir>/trash/<folder>/<unix time>-<random>/<relative path>``, removed once older than
the folder's ``trash_keep``. ``<folder>`` is a short hash of the target's key (a subfolder
target's key holds its directory name, which need not be a safe single path component).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import structlog

from plane_sync.sync.safepath import open_parent

log = structlog.get_logger(__name__)

TRASH_DIR = "trash"


@dataclass(frozen=True)
class TrashEntry:
    rel_path: str
    at: float
    path: Path


def _folder_dir(state_dir: Path, target_key: str) -> Path:
    return state_dir / TRASH_DIR / hashlib.sha256(target_key.encode()).hexdigest()[:16]


class Trash:
    def __init__(self, state_dir: Path, target_key: str) -> None:
        self.dir = _folder_dir(state_dir, target_key)

    def _slot(self, rel_path: str, now: float) -> Path:
        dest = self.dir / f"{int(now)}-{secrets.token_hex(4)}" / rel_path
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return dest

    def move_in(self, root: Path, rel_path: str, size: int, mtime_ns: int,
                now: float) -> Path | None:
        """Move the file at ``rel_path`` here if it is still the one scanned (size, mtime);
        None when it changed or went meanwhile (then it stays, or is gone, as it is)."""
        dir_fd, name = open_parent(root, rel_path, create=False)
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if (not stat.S_ISREG(st.st_mode) or st.st_size != size
                    or st.st_mtime_ns != mtime_ns):
                return None
            dest = self._slot(rel_path, now)
            try:
                os.rename(name, dest, src_dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != 18:  # EXDEV: the state directory is on another filesystem
                    raise
                _copy(dir_fd, name, dest)
                os.unlink(name, dir_fd=dir_fd)
            os.fsync(dir_fd)
            return dest
        finally:
            os.close(dir_fd)

    def copy_in(self, dir_fd: int, name: str, rel_path: str, now: float) -> Path:
        """Copy the file ``name`` (in ``dir_fd``) here: the version a download replaces."""
        dest = self._slot(rel_path, now)
        _copy(dir_fd, name, dest)
        return dest

    def entries(self) -> list[TrashEntry]:
        found: list[TrashEntry] = []
        if not self.dir.is_dir():
            return found
        for slot in sorted(self.dir.iterdir()):
            at = _slot_time(slot.name)
            if at is None:
                continue
            for path in sorted(slot.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    found.append(TrashEntry(path.relative_to(slot).as_posix(), at, path))
        return found

    def purge(self, keep: float, now: float) -> int:
        """Remove what has been here longer than ``keep`` seconds; how many slots went."""
        if not self.dir.is_dir():
            return 0
        removed = 0
        for slot in self.dir.iterdir():
            at = _slot_time(slot.name)
            if at is not None and now - at > keep:
                shutil.rmtree(slot, ignore_errors=True)
                removed += 1
        if removed:
            log.info("trash.purged", directory=str(self.dir), entries=removed)
        return removed


def _slot_time(name: str) -> float | None:
    head = name.split("-", 1)[0]
    return float(head) if head.isdigit() else None


def _copy(dir_fd: int, name: str, dest: Path) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())
        st = os.fstat(src.fileno())
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
