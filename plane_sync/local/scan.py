"""Walk one configured folder and describe its regular files, hashed through a cache.

Security: nothing outside the folder is ever read. The walk goes through directory
file descriptors (``openat`` with ``O_NOFOLLOW`` for every directory and file), so a
directory swapped for a symlink between listing and opening cannot redirect it.
Symbolic links are never followed, whatever they point to: each one is reported
as a problem of kind ``symlink``. The root itself may be a symlink (the user chose
that path in the configuration).

Mounts inside the folder (bind mounts of directories or single files, nested
shares, btrfs subvolumes) are not entered unless ``cross_mounts=True``: a bind
mount can expose files from outside the folder, and an unmounted nested share
would look like "all its files were deleted". They are found by device number
and by ``/proc/self/mountinfo`` (a bind mount from the same filesystem keeps the
device number) and reported as problems of kind ``mount``; configure such a
mount as a folder of its own.

Problems (``ScanProblem.kind``):

- ``unreadable``  permission or I/O error on a file or directory (scan goes on)
- ``symlink``     a symbolic link: not followed
- ``special``     socket, FIFO or device: skipped
- ``changing``    modified within the settle window, or changed while hashing
- ``bad_name``    the name is not valid UTF-8 and cannot be sent to Plane
- ``mount``       another filesystem is mounted there: not descended
- ``loop``        a directory seen before (a bind mount of a parent)
- ``too_deep``    more than MAX_DEPTH directories deep
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from plane_sync.core.models import LocalFile
from plane_sync.errors import LocalFileError
from plane_sync.local import iowatch
from plane_sync.local.filekeys import FileKey, KeyPolicy, key_policy, rehash_due
from plane_sync.local.hashing import hash_file_identified
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.mounts import Mount, read_mounts
from plane_sync.local.scan_results import (
    CachedHash,
    HashCache,
    MemoryHashCache,
    ProblemKind,
    ScanProblem,
    ScanResult,
)

__all__ = ["CachedHash", "FileKey", "HashCache", "MemoryHashCache", "ScanProblem",
           "ScanResult", "SettledCheck", "scan_folder"]

MAX_DEPTH = 256  # keeps open directory descriptors (one per level) well below any limit

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)

SettledCheck = Callable[[str, os.stat_result], bool]


def scan_folder(root: Path, rules: IgnoreRules, *, recurse: bool = True,
                cache: HashCache | None = None, settle_ns: int = 0,
                now_ns: int | None = None, cross_mounts: bool = False,
                settled: SettledCheck | None = None,
                hash_limit: int | None = None,
                rehash_after: float | None = None) -> ScanResult:
    """List and hash the regular files under ``root`` that ``rules`` keep.

    A missing, non-directory or unreadable root gives ``available=False`` (this is how
    an unmounted share shows up) and no files.

    A file whose cache key (see :mod:`plane_sync.local.filekeys`) is unchanged since it was
    hashed is taken from the cache: not read, and not held back to settle (it has not moved
    since). Only new or changed files go through the settle check and are read: files
    modified less than ``settle_ns`` ago (by ``now_ns``, default the current time) are
    reported as ``changing``; when ``settled(rel_path, stat)`` is given it decides instead
    (the daemon's Settler, which watches size and mtime over time and so does not trust a
    file server's clock). On filesystems whose keys cannot see every rewrite (FUSE), a
    cached file is read again once ``rehash_after`` seconds have passed since it was hashed.
    Files larger than ``hash_limit`` are listed unhashed (empty sha256/md5): they are over
    Plane's size limit and will only be skipped, so reading gigabytes would be wasted.
    """
    with iowatch.fs_section("scan"):
        return _scan(root, rules, recurse=recurse, cache=cache, settle_ns=settle_ns,
                     now_ns=now_ns, cross_mounts=cross_mounts, settled=settled,
                     hash_limit=hash_limit, rehash_after=rehash_after)


def _scan(root: Path, rules: IgnoreRules, *, recurse: bool, cache: HashCache | None,
          settle_ns: int, now_ns: int | None, cross_mounts: bool,
          settled: SettledCheck | None, hash_limit: int | None,
          rehash_after: float | None) -> ScanResult:
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        return _unavailable(root, exc)
    try:
        root_stat = os.fstat(root_fd)
        mounts = _mounts()
        real_root = os.path.realpath(root)
        keys = key_policy(real_root, root_stat.st_dev, mounts) if mounts else KeyPolicy()
        walker = _Walker(rules, recurse=recurse, cache=cache, settle_ns=settle_ns,
                         settled=settled, hash_limit=hash_limit,
                         now_ns=time.time_ns() if now_ns is None else now_ns,
                         cross_mounts=cross_mounts, root_stat=root_stat,
                         mount_points=set() if cross_mounts
                         else _mount_points_below(real_root, mounts),
                         keys=keys,
                         rehash_after=rehash_after if keys.needs_rehash else None)
        try:
            entries = _list_dir(root_fd)
        except OSError as exc:
            return _unavailable(root, exc)
        walker.walk_entries(root_fd, "", entries, depth=0)
    finally:
        os.close(root_fd)
        if cache is not None:
            cache.flush()
    files = tuple(sorted(walker.files, key=lambda f: f.rel_path))
    problems = tuple(sorted(walker.problems, key=lambda p: p.rel_path))
    return ScanResult(files=files, problems=problems, available=True, reason=None,
                      dirs=walker.dirs, fingerprint=walker.fingerprint & (2**64 - 1),
                      hashed=walker.hashed, hashed_bytes=walker.hashed_bytes,
                      volume=root_stat.st_dev if keys.volume is None else keys.volume)


def _unavailable(root: Path, exc: OSError) -> ScanResult:
    if isinstance(exc, FileNotFoundError):
        reason = f"folder {root} does not exist (not mounted?)"
    elif isinstance(exc, NotADirectoryError):
        reason = f"{root} is not a directory"
    elif isinstance(exc, PermissionError):
        reason = f"folder {root} cannot be read: permission denied"
    else:
        reason = f"folder {root} cannot be read: {exc.strerror or exc}"
    return ScanResult(files=(), problems=(), available=False, reason=reason, dirs=0)


def _mounts() -> list[Mount]:
    try:
        return read_mounts()
    except OSError:  # no /proc: the st_dev check still catches other filesystems
        return []


def _mount_points_below(real_root: str, mounts: list[Mount]) -> set[str]:
    """Mount points inside the root, relative to it. A bind mount from the same
    filesystem keeps st_dev, so the device check alone would walk right into it."""
    prefix = real_root.rstrip("/") + "/"
    return {m.mount_point[len(prefix):] for m in mounts if m.mount_point.startswith(prefix)}


def _list_dir(dir_fd: int) -> list[os.DirEntry[str]]:
    # Listing fully before acting keeps iteration errors in one place.
    with os.scandir(dir_fd) as it:
        return list(it)


def _printable(rel_path: str) -> str:
    return rel_path.encode("utf-8", "backslashreplace").decode("utf-8")


class _Walker:
    def __init__(self, rules: IgnoreRules, *, recurse: bool, cache: HashCache | None,
                 settle_ns: int, settled: SettledCheck | None, hash_limit: int | None,
                 now_ns: int, cross_mounts: bool, root_stat: os.stat_result,
                 mount_points: set[str], keys: KeyPolicy, rehash_after: float | None) -> None:
        self.rules = rules
        self.recurse = recurse
        self.cache = cache
        self.settle_ns = settle_ns
        self.settled = settled
        self.hash_limit = hash_limit
        self.now_ns = now_ns
        self.cross_mounts = cross_mounts
        self.root_dev = root_stat.st_dev
        self.mount_points = mount_points
        self.keys = keys
        self.rehash_after = rehash_after
        self.visited: set[tuple[int, int]] = {(root_stat.st_dev, root_stat.st_ino)}
        self.files: list[LocalFile] = []
        self.problems: list[ScanProblem] = []
        self.dirs = 0
        self.fingerprint = 0
        self.hashed = 0
        self.hashed_bytes = 0

    def problem(self, rel_path: str, kind: ProblemKind, reason: str,
                is_dir: bool = False) -> None:
        self.problems.append(ScanProblem(_printable(rel_path), reason, kind, is_dir))

    def walk_entries(self, dir_fd: int, prefix: str, entries: list[os.DirEntry[str]],
                     depth: int) -> None:
        self.dirs += 1
        subdirs: list[str] = []
        beat = iowatch.beat
        for entry in entries:
            beat()  # one more entry listed: the I/O watchdog sees progress
            rel = prefix + entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError as exc:
                self.problem(rel, "unreadable", f"cannot inspect: {exc.strerror or exc}")
                continue
            if self.rules.ignores(rel, is_dir):
                continue
            if not entry.name.isascii() and not _is_utf8(entry.name):
                self.problem(rel, "bad_name", "name is not valid UTF-8: rename it", is_dir)
            elif is_link:
                self.problem(rel, "symlink", "symbolic link: not followed")
            elif is_dir:
                if self.recurse:
                    subdirs.append(entry.name)
            else:
                self.take_file(dir_fd, rel, entry)
        for name in subdirs:
            self.descend(dir_fd, prefix + name, name, depth + 1)

    def take_file(self, dir_fd: int, rel: str, entry: os.DirEntry[str]) -> None:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return  # deleted since the listing: simply not there
        except OSError as exc:
            self.problem(rel, "unreadable", f"cannot stat: {exc.strerror or exc}")
            return
        if stat.S_ISLNK(st.st_mode):
            self.problem(rel, "symlink", "symbolic link: not followed")
            return
        if not stat.S_ISREG(st.st_mode):
            self.problem(rel, "special", "not a regular file (socket, FIFO or device): skipped")
            return
        if rel in self.mount_points:
            self.problem(rel, "mount", "a file bind-mounted here: not read")
            return
        self.fingerprint += hash((rel, st.st_size, st.st_mtime_ns))
        if self.hash_limit is not None and st.st_size > self.hash_limit:
            # Over Plane's limit: it will only be skipped, so it is neither read nor settled.
            self.files.append(LocalFile(rel_path=rel, size=st.st_size,
                                        mtime_ns=st.st_mtime_ns, sha256="", md5=""))
            return
        key = self.keys.key(rel, st)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None and (self.rehash_after is None
                                   or not self.rehash(rel, cached.hashed_at)):
            # Not changed since it was read: nothing to settle, nothing to read.
            self.files.append(LocalFile(rel_path=rel, size=st.st_size,
                                        mtime_ns=st.st_mtime_ns, sha256=cached.sha256,
                                        md5=cached.md5))
            return
        if cached is None and not self.has_settled(rel, st):
            return
        try:
            hashed = hash_file_identified(entry.name, dir_fd=dir_fd, display_path=rel)
        except LocalFileError as exc:
            self.hash_problem(rel, exc)
            return
        self.hashed += 1
        self.hashed_bytes += hashed.size
        if (hashed.dev, hashed.ino, hashed.size, hashed.mtime_ns) != \
                (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
            self.problem(rel, "changing", "changed while being scanned: retried later")
            return
        if self.cache is not None:
            self.cache.put(key, hashed.sha256, hashed.md5)
        self.files.append(LocalFile(rel_path=rel, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                    sha256=hashed.sha256, md5=hashed.md5))

    def has_settled(self, rel: str, st: os.stat_result) -> bool:
        """Whether a new or changed file has stopped changing; notes it as a problem if not."""
        if self.settled is not None:
            if not self.settled(rel, st):
                self.problem(rel, "changing", "still being written: waiting for it to settle")
                return False
        elif self.settle_ns and abs(self.now_ns - st.st_mtime_ns) < self.settle_ns:
            # abs(): an mtime slightly in the future (clock skew on a share) waits too.
            self.problem(rel, "changing", "modified moments ago: waiting for it to settle")
            return False
        return True

    def rehash(self, rel: str, hashed_at: float) -> bool:
        """Whether a cached file is due to be read again (see filekeys.rehash_due)."""
        assert self.rehash_after is not None
        return rehash_due(rel, hashed_at, self.now_ns / 1e9, self.rehash_after)

    def hash_problem(self, rel: str, exc: LocalFileError) -> None:
        if exc.reason == "missing":
            return  # deleted since the listing: simply not there
        if exc.reason == "symlink":
            self.problem(rel, "symlink", "symbolic link: not followed")
        elif exc.reason == "special":
            self.problem(rel, "special", "not a regular file (socket, FIFO or device): skipped")
        elif exc.reason == "changing":
            self.problem(rel, "changing", "changed while being hashed: retried later")
        else:
            cause = exc.__cause__
            detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else "error"
            self.problem(rel, "unreadable", f"cannot read: {detail}")

    def descend(self, parent_fd: int, rel: str, name: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.problem(rel, "too_deep", f"more than {MAX_DEPTH} levels deep: not descended",
                         is_dir=True)
            return
        try:
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.descend_error(rel, exc)
            return
        try:
            st = os.fstat(fd)
            if not self.cross_mounts and (st.st_dev != self.root_dev
                                          or rel in self.mount_points):
                self.problem(rel, "mount", "another filesystem is mounted here: not descended "
                             "(configure it as a folder of its own)", is_dir=True)
                return
            if (st.st_dev, st.st_ino) in self.visited:
                self.problem(rel, "loop", "directory already scanned (bind mount?): skipped",
                             is_dir=True)
                return
            self.visited.add((st.st_dev, st.st_ino))
            try:
                entries = _list_dir(fd)
            except OSError as exc:
                self.descend_error(rel, exc)
                return
            self.walk_entries(fd, rel + "/", entries, depth)
        finally:
            os.close(fd)

    def descend_error(self, rel: str, exc: OSError) -> None:
        if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:
            # Replaced by a symlink (O_NOFOLLOW refused it) or a file since the listing.
            self.problem(rel, "symlink" if exc.errno == errno.ELOOP else "changing",
                         "replaced while being scanned: not followed", is_dir=True)
        else:
            self.problem(rel, "unreadable",
                         f"cannot list directory: {exc.strerror or exc}; what is below it is "
                         "neither uploaded nor deleted until it can be", is_dir=True)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
