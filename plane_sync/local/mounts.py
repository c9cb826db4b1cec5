"""Which filesystem holds a folder, from ``/proc/self/mountinfo``.

inotify only sees writes made through this kernel, so a folder on a network share must be
polled. The watcher asks :func:`filesystem_type` for each folder's real path (longest
mount-point prefix wins) and :func:`is_network_filesystem` to decide.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")

# Filesystems whose content can change without this kernel seeing the write.
NETWORK_FILESYSTEMS = frozenset({
    "cifs", "smb3", "smbfs", "nfs", "nfs4", "9p", "afs", "ceph", "glusterfs", "davfs",
    "ncpfs", "coda", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "orangefs", "virtiofs",
})
# FUSE subtypes that are backed by a remote store (``fuse.<subtype>`` in mountinfo).
NETWORK_FUSE_SUBTYPES = frozenset({
    "sshfs", "rclone", "s3fs", "gcsfuse", "goofys", "davfs", "davfs2", "glusterfs", "cephfs",
    "ceph-fuse", "juicefs", "seaweedfs", "smbnetfs", "curlftpfs", "gvfsd-fuse", "onedriver",
    "mountpoint-s3", "blobfuse", "blobfuse2", "moosefs", "mfs", "lizardfs", "s3ql",
})

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str  # unescaped, absolute
    fstype: str  # e.g. "ext4", "cifs", "fuse.sshfs"
    source: str  # e.g. "//server/share", "/dev/sda1"
    mount_id: int = -1  # unique while mounted; a remount gets a new one
    device: str = ""  # "major:minor", as st_dev of the files on it
    fs_root: str = "/"  # the directory of the filesystem mounted there (bind mounts)

    @property
    def volume(self) -> tuple[str, str, str]:
        """What stays the same when this filesystem is unmounted and mounted again
        (the device number of a network share or FUSE mount does not)."""
        return (self.fstype, self.source, self.fs_root)


def unescape(field: str) -> str:
    r"""Undo the kernel's octal escapes in mountinfo (``\040`` is a space, ``\011`` a tab...)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse mountinfo lines; malformed lines are skipped (the kernel never writes them)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")  # optional fields come before the lone "-"
            mounts.append(Mount(unescape(fields[4]), fields[sep + 1], unescape(fields[sep + 2]),
                                int(fields[0]), fields[2], unescape(fields[3])))
        except (ValueError, IndexError):
            continue
    return mounts


def read_mounts(mountinfo: str | None = None) -> list[Mount]:
    """Mounts from the given mountinfo text, or from this process's own mount table."""
    if mountinfo is None:
        mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    return parse_mountinfo(mountinfo)


def _contains(mount_point: str, path: str) -> bool:
    if mount_point == "/":
        return True
    return path == mount_point or path.startswith(mount_point + "/")


def find_mount(path: str | os.PathLike[str], mountinfo: str | None = None) -> Mount:
    """The mount holding ``path``: longest mount-point prefix of its real path.

    Later lines win on equal mount points (a mount stacked on top of another). Resolving the
    real path touches the filesystem; :func:`mount_holding` does not.
    """
    return mount_holding(os.path.realpath(path), read_mounts(mountinfo))


def mount_holding(real_path: str, mounts: list[Mount]) -> Mount:
    """The mount holding an already resolved path, from a mount table: no filesystem access,
    so it is safe to call while a share hangs."""
    best: Mount | None = None
    for mount in mounts:
        if _contains(mount.mount_point, real_path) and (
            best is None or len(mount.mount_point) >= len(best.mount_point)
        ):
            best = mount
    return best if best is not None else Mount("/", "unknown", "")


def device_string(st_dev: int) -> str:
    """st_dev as mountinfo writes it ("major:minor")."""
    return f"{os.major(st_dev)}:{os.minor(st_dev)}"


def mount_point(path: str | os.PathLike[str], mountinfo: str | None = None) -> str:
    return find_mount(path, mountinfo).mount_point


def filesystem_type(path: str | os.PathLike[str], mountinfo: str | None = None) -> str:
    return find_mount(path, mountinfo).fstype


def is_network_filesystem(fstype: str) -> bool:
    """True for filesystems where other machines' writes are invisible to inotify."""
    if fstype in NETWORK_FILESYSTEMS:
        return True
    if fstype.startswith("fuse."):
        return fstype.removeprefix("fuse.") in NETWORK_FUSE_SUBTYPES
    return False
