"""The inotify watch limit: count what a tree needs and say how to raise the sysctl.

inotify needs one watch per directory, counted per user against
``fs.inotify.max_user_watches``. When the limit is reached (``inotify_add_watch`` fails with
ENOSPC; watchdog raises it for the root but silently skips subdirectories that fail), the folder
is polled instead of watched half blind, and the log names the sysctl and a value that fits.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
SYSCTL_FILE = "/etc/sysctl.d/90-plane-sync.conf"


def count_directories(root: Path) -> int:
    """Directories in the tree, root included (symlinks not followed, errors skipped)."""
    count = 0
    stack = [os.fspath(root)]
    while stack:
        path = stack.pop()
        count += 1
        try:
            with os.scandir(path) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return count


def max_user_watches(proc_file: Path = MAX_USER_WATCHES) -> int | None:
    try:
        return int(proc_file.read_text().strip())
    except (OSError, ValueError):
        return None


def watches_in_use(uid: int | None = None, proc: Path = Path("/proc")) -> int:
    """inotify watches held by this user's processes (those we may read), from fdinfo."""
    uid = os.getuid() if uid is None else uid
    total = 0
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if pid_dir.stat().st_uid != uid:
                continue
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) != "anon_inode:inotify":
                    continue
                text = (pid_dir / "fdinfo" / fd.name).read_text()
            except OSError:
                continue
            total += text.count("inotify wd:")
    return total


def suggested_limit(current: int, directories: int) -> int:
    # Twice the tree: room for it to grow and for other programs of the same user.
    return current + directories * 2


def watch_limit_advice(root: Path, directories: int, current: int | None) -> str:
    """The actionable message for a folder that hit the inotify watch limit."""
    if current is None:
        return (f"the inotify watch limit (fs.inotify.max_user_watches) is too low to watch {root}"
                f" ({directories} directories); it is polled instead. Raise the sysctl by at least"
                f" {directories * 2}.")
    new = suggested_limit(current, directories)
    return (f"the inotify watch limit fs.inotify.max_user_watches={current} is too low to watch"
            f" {root} ({directories} directories, one watch each); it is polled instead. Raise it:"
            f" `sudo sysctl fs.inotify.max_user_watches={new}` and, to keep it after a reboot,"
            f" `echo fs.inotify.max_user_watches={new} | sudo tee {SYSCTL_FILE}`.")


def would_exceed_limit(directories: int, *, in_use: int | None = None,
                       limit: int | None = None) -> bool:
    """Whether adding ``directories`` watches would pass the limit (False when unknown)."""
    limit = max_user_watches() if limit is None else limit
    if limit is None:
        return False
    in_use = watches_in_use() if in_use is None else in_use
    return in_use + directories > limit
