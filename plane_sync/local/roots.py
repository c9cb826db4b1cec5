"""Is a folder's root still there, on the filesystem it was on when we armed it?

An unmounted share usually leaves its mount point behind as an empty directory: existing is not
enough. :meth:`RootProbe.check` says whether the root is a directory (one ``stat``, made on a
thread a hung share may hold); :meth:`RootProbe.mount_moved` whether the mount holding it is
still the one seen when the folder was armed, from ``/proc/self/mountinfo`` alone (no access
to the share, so it never hangs). What a moved mount means (a share unmounted, mounted over
the folder, or replaced) is the watcher's to decide (see :mod:`plane_sync.local.watch`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from plane_sync.local import mounts
from plane_sync.local.mounts import Mount


@dataclass
class RootProbe:
    root: Path
    real_root: str | None = None  # the root's real path, resolved when armed
    expected: Mount | None = None  # the mount holding it when armed
    identity: tuple[int, int] | None = field(default=None)  # (st_dev, st_ino) last seen
    table: Callable[[], list[Mount]] = mounts.read_mounts  # the mount table (tests inject)

    def arm(self, real_root: str, mount: Mount) -> None:
        self.real_root, self.expected, self.identity = real_root, mount, None

    def current_mount(self, table: list[Mount] | None = None) -> Mount:
        """The mount holding the root now (no filesystem access)."""
        real = self.real_root or os.path.abspath(self.root)
        return mounts.mount_holding(real, self.table() if table is None else table)

    def mount_moved(self, table: list[Mount] | None = None) -> bool:
        """True when another mount holds the root than when it was armed (or the same one
        again: mount ids are reused, so a quick remount of the same share may pass)."""
        if self.expected is None:
            return False
        try:
            return self.current_mount(table) != self.expected
        except OSError:  # no mount table to tell: the watcher says so
            return False

    def check(self) -> str | None:
        """None when the root is usable, else why it is not (for the log and the status)."""
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            return "folder root does not exist"
        except OSError as exc:
            return f"folder root cannot be read: {exc.strerror or exc}"
        if not stat.S_ISDIR(st.st_mode):
            return "folder root is not a directory"
        self.identity = (st.st_dev, st.st_ino)
        return None

    def replaced(self) -> bool:
        """True when the root directory now is another inode than at the last check."""
        before = self.identity
        try:
            st = os.stat(self.root)
        except OSError:
            return False
        return before is not None and before != (st.st_dev, st.st_ino)
