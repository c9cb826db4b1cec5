"""Nothing outside a configured folder is ever uploaded, even when the tree changes between
the scan and the upload.

The scan walks through directory descriptors with O_NOFOLLOW, but the upload opens the file
again later. If it opened ``root / rel_path`` as one path, a directory swapped for a symlink
in between would redirect it. The sha256 check on the bytes sent does not make up for that:
it runs after the bytes went to the storage host (integrity, not confidentiality), and the
test below shows those bytes arriving there.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from plane_sync.core.models import LocalFile, UploadResult, WorkItem
from plane_sync.emulator import Emulator
from plane_sync.errors import FileChangedDuringUpload, LocalFileError
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import scan_folder
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.upload import open_beneath, upload_file

LIMIT = 5 * 1024 * 1024
NO_RULES = IgnoreRules()


@pytest.fixture
def client(emulator: Emulator) -> Any:
    with PlaneClient(emulator.url, emulator.api_key, emulator.workspace,
                     rate_limit=(1000, 1.0),
                     retry=RetryPolicy(attempts=2, base_delay=0.0)) as c:
        yield c


def item_of(emu: Emulator) -> WorkItem:
    return WorkItem(id=emu.work_items[0]["id"], project_id=emu.project_id)


def make(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def scanned(root: Path, rel_path: str) -> LocalFile:
    [found] = [f for f in scan_folder(root, NO_RULES).files if f.rel_path == rel_path]
    return found


def upload(client: PlaneClient, emu: Emulator, folder: Path, file: LocalFile,
           **kwargs: Any) -> UploadResult | Any:
    return upload_file(client, item_of(emu), folder / file.rel_path, name="f.txt",
                       mime_type="text/plain", size=file.size, sha256=file.sha256,
                       size_limit=LIMIT, **kwargs)


def storage_bodies(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests() if r.server == "storage"]


@pytest.fixture
def swapped(tmp_path: Path) -> tuple[Path, LocalFile, bytes]:
    """A folder whose ``a/b/c`` directory was scanned, then swapped for a symlink to a
    directory outside holding a same-sized ``report.txt``."""
    root = tmp_path / "folder"
    make(root / "a" / "b" / "c" / "report.txt", b"harmless words")
    outside_secret = b"private key..."  # same length as the harmless file
    make(tmp_path / "outside" / "report.txt", outside_secret)
    file = scanned(root, "a/b/c/report.txt")
    real = root / "a" / "b" / "c"
    (real / "report.txt").unlink()
    real.rmdir()
    real.symlink_to(tmp_path / "outside", target_is_directory=True)
    return root, file, outside_secret


def test_directory_swapped_for_a_symlink_after_the_scan_is_refused_before_any_request(
        emulator: Emulator, client: PlaneClient,
        swapped: tuple[Path, LocalFile, bytes]) -> None:
    root, file, _ = swapped
    with pytest.raises(LocalFileError) as info:
        upload(client, emulator, root, file, root=root)
    assert info.value.reason == "symlink"
    assert emulator.requests() == []  # nothing asked of Plane, nothing sent to storage


def test_without_root_the_hash_check_comes_too_late(
        emulator: Emulator, client: PlaneClient,
        swapped: tuple[Path, LocalFile, bytes]) -> None:
    """Why ``root`` matters: opened as one path, the outside file's bytes reach the storage
    host; the sha256 mismatch is only noticed after they were sent."""
    root, file, secret = swapped
    with pytest.raises(FileChangedDuringUpload):
        upload(client, emulator, root, file)  # no root: only the last component is checked
    [post] = storage_bodies(emulator)
    assert post.body_bytes > len(secret)  # the outside file went out in that POST


def test_a_symlink_at_the_top_of_the_path_is_refused_too(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    root = tmp_path / "folder"
    make(root / "top" / "x.txt", b"data")
    file = scanned(root, "top/x.txt")
    make(tmp_path / "elsewhere" / "x.txt", b"DATA")
    (root / "top" / "x.txt").unlink()
    (root / "top").rmdir()
    (root / "top").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalFileError) as info:
        upload(client, emulator, root, file, root=root)
    assert info.value.reason == "symlink" and emulator.requests() == []


def test_the_root_itself_may_be_a_symlink(emulator: Emulator, client: PlaneClient,
                                          tmp_path: Path) -> None:
    """The user chose the folder's path; a link there is theirs to make."""
    make(tmp_path / "real" / "sub" / "x.txt", b"content")
    root = tmp_path / "link"
    root.symlink_to(tmp_path / "real")
    file = scanned(root, "sub/x.txt")
    result = upload(client, emulator, root, file, root=root)
    assert isinstance(result, UploadResult) and result.bytes_sent == len(b"content")


@pytest.mark.parametrize("rel_path", ["../outside.txt", "a/../../outside.txt", "./a.txt",
                                      "a//b.txt", "/etc/passwd", ""])
def test_rel_paths_that_could_leave_the_folder_are_refused(tmp_path: Path,
                                                           rel_path: str) -> None:
    make(tmp_path / "outside.txt", b"x")
    root = tmp_path / "folder"
    make(root / "a.txt", b"x")
    with pytest.raises(ValueError, match="not a plain path"):
        open_beneath(root, rel_path)


def test_an_absolute_path_outside_the_root_is_refused(emulator: Emulator,
                                                       client: PlaneClient,
                                                       tmp_path: Path) -> None:
    outside = make(tmp_path / "outside.txt", b"secret")
    root = tmp_path / "folder"
    root.mkdir()
    with pytest.raises(LocalFileError) as info:
        upload_file(client, item_of(emulator), outside, name="o.txt", mime_type="text/plain",
                    size=6, sha256=hashlib.sha256(b"secret").hexdigest(), size_limit=LIMIT,
                    root=root)
    assert info.value.reason == "unsafe-path" and emulator.requests() == []
    with pytest.raises(LocalFileError) as info:
        upload_file(client, item_of(emulator), root / ".." / "outside.txt", name="o.txt",
                    mime_type="text/plain", size=6,
                    sha256=hashlib.sha256(b"secret").hexdigest(), size_limit=LIMIT,
                    root=root)
    assert info.value.reason == "unsafe-path" and emulator.requests() == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("with_root", [True, False])
def test_a_fifo_swapped_in_is_refused_without_hanging(emulator: Emulator, client: PlaneClient,
                                                      tmp_path: Path, with_root: bool) -> None:
    """Opening a FIFO blocks until a writer comes, unless opened O_NONBLOCK."""
    root = tmp_path / "folder"
    make(root / "pipe.txt", b"abc")
    file = scanned(root, "pipe.txt")
    (root / "pipe.txt").unlink()
    os.mkfifo(root / "pipe.txt")
    with pytest.raises(LocalFileError) as info:
        upload(client, emulator, root, file, **({"root": root} if with_root else {}))
    assert info.value.reason == "not-regular" and emulator.requests() == []


def test_a_hard_link_to_a_file_outside_is_the_users_own_file(tmp_path: Path) -> None:
    """Decision, documented: a hard link inside the folder IS a regular file of the folder
    (same inode, no path leads outside); whoever made it put that content there. On Linux,
    fs.protected_hardlinks (default 1) stops users from hard-linking files they cannot
    read and write, so another user cannot plant a link to the daemon user's files this way
    unless that sysctl is off. It is scanned and uploaded like any other file."""
    outside = make(tmp_path / "outside.txt", b"linked content")
    root = tmp_path / "folder"
    root.mkdir()
    os.link(outside, root / "linked.txt")
    file = scanned(root, "linked.txt")
    assert file.sha256 == hashlib.sha256(b"linked content").hexdigest()
    with open_beneath(root, "linked.txt") as opened:
        assert opened.read() == b"linked content"


def test_the_engine_opens_through_the_folder_root(
        emulator: Emulator, client: PlaneClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same swap, between the engine's scan and its upload: nothing reaches storage."""
    from plane_sync.config.types import FolderConfig, SingleTarget
    from plane_sync.sync import engine as engine_module
    from plane_sync.sync.engine import Engine
    from plane_sync.sync.state import StateDB
    from plane_sync.sync.targets import Target

    root = tmp_path / "folder"
    make(root / "a" / "report.txt", b"harmless words")
    make(tmp_path / "outside" / "report.txt", b"private key...")
    real_plan = engine_module.plan

    def plan_then_swap(*args: Any, **kwargs: Any) -> Any:
        actions = real_plan(*args, **kwargs)
        (root / "a" / "report.txt").unlink()
        (root / "a").rmdir()
        (root / "a").symlink_to(tmp_path / "outside", target_is_directory=True)
        return actions

    monkeypatch.setattr(engine_module, "plan", plan_then_swap)
    folder = FolderConfig(path=root, target=SingleTarget(identifier="PROJ-1"), include=(),
                          exclude=(), recurse=True, on_change="replace", on_delete="keep",
                          watch="auto", poll_interval=30.0, settle=0.0, rescan_interval=600.0,
                          key="folder")
    state = StateDB(tmp_path / "state.db")
    try:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync")
        report = engine.sync_target(Target(folder, "folder", root, item_of(emulator)))
    finally:
        state.close()
    assert report.uploaded == []
    assert [r for r in emulator.requests() if r.server == "storage"] == []
    assert [r.method for r in emulator.requests() if r.method == "POST"] == []
