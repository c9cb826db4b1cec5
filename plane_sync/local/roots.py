"""Is a folder's root still there, on the filesystem it was on when we armed it?

An unmounted share usually leaves its mount point behind as an empty directory: existing is not
enough. A root is available when it is a directory *and* the mount holding it is the one seen
when it was first found. Reading mountinfo costs a fraction of a millisecond, so the watcher
can ask every few seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from plane_sync.local import mounts


@dataclass
class RootProbe:
    root: Path
    expected_mount: str | None = None  # filled on the first successful check
    identity: tuple[int, int] | None = field(default=None)  # (st_dev, st_ino) last seen

    def check(self) -> str | None:
        """None when the root is usable, else why it is not (for the log and the status)."""
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            return "folder root does not exist"
        except OSError as exc:
            return f"folder root cannot be read: {exc.strerror or exc}"
        if not os.path.isdir(self.root):
            return "folder root is not a directory"
        current = mounts.mount_point(self.root)
        if self.expected_mount is None:
            self.expected_mount = current
        elif current != self.expected_mount:
            return (f"folder is no longer on its mount {self.expected_mount} (now on {current}):"
                    " share unmounted?")
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
