"""When may a cached hash be trusted? The stat fields that say "unchanged", per filesystem.

A hash is reused only while every field of its :class:`FileKey` is what it was when the file
was read. Which fields mean something depends on the filesystem under the folder:

- **Local filesystems**: (device, inode, size, mtime_ns, ctime_ns). ctime moves on every
  write and cannot be set from user space, so a rewrite that puts size and mtime back
  (``cp -p``, ``rsync -t``, ``touch -r``) still misses the cache. A chmod moves it too: one
  needless read, never a missed change.
- **Kernel network filesystems** (NFS, SMB, ...): inode numbers (NFS file ids, SMB server
  inode numbers) and ctime (kept by the server; only compared for equality, so the server's
  clock does not matter) are kept. The device number is not: the kernel hands a share a new
  anonymous one at every mount, which made every remount re-read the whole share. The
  mount's (type, source, root) stands in for it (:attr:`KeyPolicy.volume`).
- **FUSE filesystems** (sshfs, rclone, s3fs, ...): only (volume, size, mtime_ns). Their inode
  numbers are made up by the FUSE library in lookup order (others after a remount, and a
  forgotten inode comes back with a new one), and so is their ctime (sshfs speaks SFTP v3,
  which has none, and reports the mtime). mtime there often has whole seconds only, so a
  same-size rewrite within one second is invisible too. What these keys cannot see, a
  periodic re-hash catches (:func:`rehash_due`, the folder's ``rehash_interval``).
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from plane_sync.local.mounts import Mount, device_string, is_network_filesystem, mount_holding


class FileKey(NamedTuple):
    """What a cached hash is valid for; any change in these means "hash again".

    Fields a filesystem cannot be trusted with are 0 (see :class:`KeyPolicy`). The folder is
    not part of the key: a cache object belongs to one folder (see StateDB.hash_cache).
    """

    rel_path: str
    dev: int  # st_dev, or the mount's volume number (network filesystems)
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int = 0


@dataclass(frozen=True)
class KeyPolicy:
    """How a folder's files are keyed. ``volume=None``: use st_dev."""

    volume: int | None = None
    trust_inode: bool = True
    trust_ctime: bool = True

    def key(self, rel_path: str, st: os.stat_result) -> FileKey:
        return FileKey(rel_path, st.st_dev if self.volume is None else self.volume,
                       st.st_ino if self.trust_inode else 0, st.st_size, st.st_mtime_ns,
                       st.st_ctime_ns if self.trust_ctime else 0)

    @property
    def needs_rehash(self) -> bool:
        """Whether a rewrite could keep every field of the key (no real ctime)."""
        return not self.trust_ctime


LOCAL = KeyPolicy()


def is_fuse(fstype: str) -> bool:
    # "fuseblk" (ntfs-3g and the like) sits on a block device with real inode numbers.
    return fstype == "fuse" or fstype.startswith("fuse.")


def volume_number(mount: Mount) -> int:
    """A stable number for a mounted filesystem, from what survives a remount (fits SQLite's
    signed 64-bit INTEGER)."""
    digest = hashlib.sha256("\0".join(mount.volume).encode("utf-8", "surrogateescape"))
    return int.from_bytes(digest.digest()[:8], "big") >> 1


def key_policy(real_root: str, root_dev: int, mounts: list[Mount]) -> KeyPolicy:
    """The policy for a folder whose (resolved) root has device ``root_dev``."""
    device = device_string(root_dev)
    candidates = [m for m in mounts if m.device == device]
    mount = mount_holding(real_root, candidates) if candidates else None
    if mount is None or mount.fstype == "unknown":
        mount = mount_holding(real_root, mounts)
    fuse = is_fuse(mount.fstype)
    if not fuse and not is_network_filesystem(mount.fstype):
        return LOCAL
    return KeyPolicy(volume_number(mount), trust_inode=not fuse, trust_ctime=not fuse)


def rehash_due(rel_path: str, hashed_at: float, now: float, interval: float) -> bool:
    """Whether a file hashed at ``hashed_at`` should be read again. Each path waits between
    half and all of ``interval`` (fixed per path), so a share hashed in one go is read again
    spread over time rather than all at once."""
    spread = 0.5 + 0.5 * (zlib.crc32(rel_path.encode("utf-8", "surrogateescape")) / 2**32)
    return now - hashed_at >= interval * spread
