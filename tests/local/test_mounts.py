from __future__ import annotations

from pathlib import Path

import pytest

from plane_sync.local.mounts import (
    filesystem_type,
    find_mount,
    is_network_filesystem,
    mount_point,
    parse_mountinfo,
    unescape,
)

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /mnt/share rw,relatime shared:5 - cifs //nas/share rw,vers=3.1.1
31 22 0:41 / /mnt/my\\040docs rw,relatime - nfs4 nas:/export/docs rw
32 22 0:42 / /home/u/remote rw,nosuid,nodev - fuse.sshfs u@host:/srv rw
33 22 0:43 / /home/u/local-fuse rw - fuse.gocryptfs /home/u/.crypt rw
34 30 0:44 / /mnt/share/inner rw - tmpfs tmpfs rw
garbage line
"""


def test_parse_unescapes_mount_points_and_skips_garbage() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == [
        "/", "/mnt/share", "/mnt/my docs", "/home/u/remote", "/home/u/local-fuse",
        "/mnt/share/inner",
    ]
    assert mounts[1].fstype == "cifs"
    assert mounts[1].source == "//nas/share"


def test_unescape_octal() -> None:
    assert unescape("a\\040b\\011c\\134d") == "a b\tc\\d"


@pytest.mark.parametrize(
    ("path", "fstype", "point"),
    [
        ("/mnt/share/projects/x", "cifs", "/mnt/share"),
        ("/mnt/share", "cifs", "/mnt/share"),
        ("/mnt/shareholder", "ext4", "/"),  # a prefix of the name, not of the path
        ("/mnt/share/inner/a", "tmpfs", "/mnt/share/inner"),  # longest prefix wins
        ("/mnt/my docs/a", "nfs4", "/mnt/my docs"),
        ("/home/u/remote/a", "fuse.sshfs", "/home/u/remote"),
        ("/etc", "ext4", "/"),
    ],
)
def test_longest_prefix(path: str, fstype: str, point: str) -> None:
    assert filesystem_type(path, MOUNTINFO) == fstype
    assert mount_point(path, MOUNTINFO) == point


@pytest.mark.parametrize(
    ("fstype", "network"),
    [
        ("cifs", True), ("smb3", True), ("nfs", True), ("nfs4", True), ("9p", True),
        ("afs", True), ("ceph", True), ("glusterfs", True), ("davfs", True),
        ("fuse.sshfs", True), ("fuse.rclone", True), ("fuse.s3fs", True),
        ("ext4", False), ("xfs", False), ("btrfs", False), ("tmpfs", False),
        ("overlay", False), ("fuse.gocryptfs", False), ("fuseblk", False),
    ],
)
def test_is_network_filesystem(fstype: str, network: bool) -> None:
    assert is_network_filesystem(fstype) is network


def test_real_mount_table_resolves_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert find_mount(tmp_path / "link") == find_mount(tmp_path / "real")
    assert filesystem_type(tmp_path) != "unknown"
