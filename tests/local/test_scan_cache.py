"""The scan reads only what changed: cached files skip the settle check and the read; the
cache key fits the filesystem (local, kernel network share, FUSE); FUSE shares are re-read
now and then (rehash_after)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from plane_sync.local import scan as scan_module
from plane_sync.local.filekeys import LOCAL, KeyPolicy, key_policy, rehash_due, volume_number
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.mounts import Mount, device_string, parse_mountinfo
from plane_sync.local.scan import MemoryHashCache, scan_folder


def _never_settled(seen: list[str]) -> scan_module.SettledCheck:
    def settled(rel: str, st: os.stat_result) -> bool:
        seen.append(rel)
        return False  # a network share's Settler on its first look

    return settled


def test_a_cached_unchanged_file_is_neither_settled_again_nor_read(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"content {i}")
    cache = MemoryHashCache()
    first = scan_folder(tmp_path, IgnoreRules(), cache=cache)
    assert first.hashed == 5 and first.hashed_bytes == 5 * len("content 0")

    (tmp_path / "new.txt").write_text("new")
    asked: list[str] = []
    second = scan_folder(tmp_path, IgnoreRules(), cache=cache, settled=_never_settled(asked))
    assert asked == ["new.txt"]  # only the new file waits to settle
    assert second.hashed == 0
    assert sorted(f.rel_path for f in second.files) == [f"f{i}.txt" for i in range(5)]
    assert [p.rel_path for p in second.problems] == ["new.txt"]


def test_the_fingerprint_follows_the_listing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    one = scan_folder(tmp_path, IgnoreRules()).fingerprint
    assert scan_folder(tmp_path, IgnoreRules()).fingerprint == one
    (tmp_path / "a.txt").write_text("aa")
    assert scan_folder(tmp_path, IgnoreRules()).fingerprint != one


MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:40 / /mnt/nfs rw - nfs4 nas:/export rw
41 22 0:41 / /mnt/ssh rw - fuse.sshfs u@host:/srv rw,user_id=0
42 22 0:42 /sub /mnt/bind rw - fuse.sshfs u@host:/srv rw,user_id=0
"""


def _dev(text: str) -> int:
    major, minor = text.split(":")
    return os.makedev(int(major), int(minor))


def test_key_policy_per_filesystem() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert key_policy("/home/u/x", _dev("8:1"), mounts) == LOCAL
    nfs = key_policy("/mnt/nfs/a", _dev("0:40"), mounts)
    assert (nfs.trust_inode, nfs.trust_ctime, nfs.needs_rehash) == (True, True, False)
    ssh = key_policy("/mnt/ssh/a", _dev("0:41"), mounts)
    assert (ssh.trust_inode, ssh.trust_ctime, ssh.needs_rehash) == (False, False, True)
    # The volume survives a remount (another device number, another mount id)...
    remounted = parse_mountinfo(MOUNTINFO.replace("41 22 0:41", "77 22 0:57"))
    assert key_policy("/mnt/ssh/a", _dev("0:57"), remounted).volume == ssh.volume
    # ... and tells another share, or another directory of the same one, apart.
    other = parse_mountinfo(MOUNTINFO.replace("u@host:/srv", "u@other:/srv"))
    assert key_policy("/mnt/ssh/a", _dev("0:41"), other).volume != ssh.volume
    assert key_policy("/mnt/bind/a", _dev("0:42"), mounts).volume != ssh.volume


def test_an_untrusted_field_is_left_out_of_the_key(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    st = os.stat(tmp_path / "a")
    fuse = KeyPolicy(volume=12, trust_inode=False, trust_ctime=False)
    assert fuse.key("a", st) == ("a", 12, 0, st.st_size, st.st_mtime_ns, 0)
    assert LOCAL.key("a", st) == ("a", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                  st.st_ctime_ns)


def test_rehash_is_spread_over_the_second_half_of_the_interval() -> None:
    due = [rehash_due(f"f{i}", 0.0, 75.0, 100.0) for i in range(1000)]
    assert 300 < sum(due) < 700  # about half are due three quarters of the way
    assert not any(rehash_due(f"f{i}", 0.0, 49.9, 100.0) for i in range(1000))
    assert all(rehash_due(f"f{i}", 0.0, 100.0, 100.0) for i in range(1000))


@pytest.fixture
def looks_like_sshfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as if it were an sshfs mount (the e2e_share suite has the real one)."""
    dev = device_string(os.stat(tmp_path).st_dev)
    fake = [Mount(str(tmp_path), "fuse.sshfs", "u@host:/srv", 99, dev, "/")]
    monkeypatch.setattr(scan_module, "read_mounts", lambda: fake)
    return tmp_path


def test_a_fuse_share_is_read_again_after_rehash_after(looks_like_sshfs: Path) -> None:
    root = looks_like_sshfs
    (root / "a.txt").write_bytes(b"one")
    cache = MemoryHashCache(clock=lambda: 1000.0)
    scan_folder(root, IgnoreRules(), cache=cache, rehash_after=100.0, now_ns=1000 * 10**9)
    assert scan_folder(root, IgnoreRules(), cache=cache, rehash_after=100.0,
                       now_ns=1040 * 10**9).hashed == 0
    # Same size and the mtime put back: only the re-hash can see it.
    st = os.stat(root / "a.txt")
    (root / "a.txt").write_bytes(b"two")
    os.utime(root / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    later = scan_folder(root, IgnoreRules(), cache=cache, rehash_after=100.0,
                        now_ns=1101 * 10**9)
    assert later.hashed == 1
    assert later.files[0].sha256 == hashlib.sha256(b"two").hexdigest()
    # Never without rehash_after, and never where ctime is trusted.
    assert scan_folder(root, IgnoreRules(), cache=cache, now_ns=10**13).hashed == 0


def test_a_local_folder_is_never_re_hashed(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"one")
    cache = MemoryHashCache(clock=lambda: 0.0)
    scan_folder(tmp_path, IgnoreRules(), cache=cache)
    assert scan_folder(tmp_path, IgnoreRules(), cache=cache, rehash_after=1.0,
                       now_ns=10**15).hashed == 0


def test_volume_number_fits_sqlite() -> None:
    mount = Mount("/m", "fuse.sshfs", "a@b:/c", 1, "0:1", "/")
    assert 0 <= volume_number(mount) < 2**63
