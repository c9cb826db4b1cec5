"""A rewrite that keeps a file's size and modification time is still a change (issue 8, case 2).

Tools that copy timestamps (``cp -p``, ``rsync -t``, ``touch -r``, an editor that restores
mtime) can rewrite a file so that size and mtime are what they were. The hash cache must not
take that for "unchanged": on a local disk the change time (ctime) moves on every write and
cannot be set from user space, so it is part of the cache key.
"""

from __future__ import annotations

import hashlib
import os

from tests.e2e_sync.conftest import World, external_ids


def test_a_same_size_rewrite_with_the_mtime_put_back_is_uploaded(world: World) -> None:
    path = world.folder / "report.txt"
    path.write_bytes(b"version one\n")
    world.write_config()
    world.sync()
    before = os.stat(path)

    with open(path, "r+b") as f:  # in place: same inode, same length
        f.write(b"version two\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)

    run = world.sync().json["folders"][0]
    assert [u["path"] for u in run["uploaded"]] == ["report.txt"]
    new_hash = hashlib.sha256(b"version two\n").hexdigest()
    assert any(new_hash in eid for eid in external_ids(world.uploaded()))
