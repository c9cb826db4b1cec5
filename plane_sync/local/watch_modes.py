"""Which way a folder is watched: inotify on local disks, polling on network filesystems.

inotify sees only writes made through this kernel, so on NFS, SMB and FUSE shares another
machine's writes would go unseen; those folders are polled (see
:mod:`plane_sync.local.poller`). The choice is made from the mount table, never by touching
the share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from plane_sync.local import mounts

Mode = Literal["inotify", "poll"]
RequestedMode = Literal["auto", "inotify", "poll"]


@dataclass(frozen=True)
class FolderWatch:
    """How one folder is watched, and why (for the log and ``plane-sync status``)."""

    key: str
    root: Path
    mode: Mode
    reason: str
    fstype: str = ""
    poll_interval: float | None = None  # set when mode == "poll"


def choose_mode(root: Path, requested: RequestedMode,
                mountinfo: str | None = None) -> tuple[Mode, str, str]:
    """(mode, reason, fstype) for a folder, from the filesystem under its real path."""
    try:
        fstype = mounts.filesystem_type(root, mountinfo)
    except OSError:
        fstype = "unknown"
    return (*mode_for(fstype, requested), fstype)


def mode_for(fstype: str, requested: RequestedMode) -> tuple[Mode, str]:
    """(mode, reason) for a folder on a filesystem of type ``fstype``."""
    if requested != "auto":
        return requested, f"watch mode {requested!r} configured"
    if mounts.is_network_filesystem(fstype):
        return "poll", f"{fstype} is a network filesystem: inotify cannot see remote writes"
    return "inotify", f"{fstype} is a local filesystem"
