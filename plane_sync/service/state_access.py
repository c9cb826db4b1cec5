"""Whether a state directory can be read (``status``) without creating or changing it.

A state directory that does not exist yet is normal before the first sync. One that cannot
exist (a file where a directory should be, a pseudo or read-only filesystem) or cannot be
read is a configuration error: "nothing synced yet" would be a green lie.
"""

from __future__ import annotations

import os
from pathlib import Path

from plane_sync.local.mounts import filesystem_type

# Kernel filesystems where nobody creates a state directory.
PSEUDO_FILESYSTEMS = frozenset({"proc", "sysfs", "devtmpfs", "debugfs", "tracefs",
                                "securityfs", "cgroup", "cgroup2", "configfs", "pstore",
                                "bpf", "devpts", "mqueue", "hugetlbfs"})


def state_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a state directory, or None."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a directory"
        if not os.access(path, os.R_OK | os.X_OK):
            return f"{path} cannot be read by this user (run as the daemon's user or root)"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a directory, so {path} cannot be made"
    try:
        fstype = filesystem_type(ancestor)
        read_only = bool(os.statvfs(ancestor).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return f"cannot look at {ancestor}: {exc.strerror or exc}"
    if fstype in PSEUDO_FILESYSTEMS or read_only:
        what = "read-only" if read_only else f"{fstype} (a kernel filesystem)"
        return f"{path} cannot be made: {ancestor} is {what}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{path} cannot be made: {ancestor} is not writable by this user"
    return None
