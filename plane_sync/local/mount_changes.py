"""What a change in the mount holding a folder means, from two mount-table entries.

``expected`` is the mount that held the folder when it was armed, ``current`` the one that
holds it now (both found by :func:`plane_sync.local.mounts.mount_holding`, which never
touches the filesystem). Mount ids and device numbers are reused, so an unmount followed by a
remount of the same share may give an identical entry: that is only told apart by having seen
the folder unmounted in between.
"""

from __future__ import annotations

from typing import Literal

from plane_sync.local.mounts import Mount

MountChange = Literal["none", "rearm", "unmounted"]


def mount_change(expected: Mount, current: Mount, *,
                 unmounted: bool) -> tuple[MountChange, str]:
    """("rearm", why): the folder is on a (new) filesystem: choose its watch mode again;
    ("unmounted", reason): the mount that held it is gone; ("none", ""): nothing to do."""
    if current == expected:
        return ("rearm", "the share was mounted again") if unmounted else ("none", "")
    if _deeper(current, expected):
        # Mounted over the folder (or a directory above it): e.g. a daemon started at boot
        # before the share was mounted. Never "unmounted": the share has arrived.
        return "rearm", (f"{current.fstype} {current.source} was mounted on "
                         f"{current.mount_point}: the folder is on it now")
    if current.mount_point == expected.mount_point:
        if current.volume == expected.volume:
            return "rearm", "the share was mounted again"
        return "rearm", (f"another filesystem is mounted on {current.mount_point}: "
                         f"{current.fstype} {current.source} (was {expected.fstype} "
                         f"{expected.source})")
    if unmounted:
        return "none", ""  # said already
    return "unmounted", (f"{expected.fstype} {expected.source} is no longer mounted on "
                         f"{expected.mount_point} (share unmounted?): nothing is synced or "
                         "deleted until it is back")


def _deeper(current: Mount, expected: Mount) -> bool:
    """Whether ``current`` is mounted below ``expected``'s mount point (both hold the
    folder, so the longer mount point is the one mounted over it)."""
    if expected.mount_point == "/":
        return current.mount_point != "/"
    return current.mount_point.startswith(expected.mount_point + "/")
