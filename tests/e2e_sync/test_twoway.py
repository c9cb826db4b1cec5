"""direction: both, end to end: the CLI against the emulator over loopback, one test per
invariant (issue 11). Two "machines" are two folders with state directories of their own on
one work item."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from plane_sync.emulator import Emulator
from tests.e2e_sync.conftest import World, writes
from tests.emulator.emu_helpers import api, attachments_path, upload_and_complete


def both(world: World, folder: Path | None = None, state: Path | None = None,
         **settings: Any) -> dict[str, Any]:
    return world.config(folders=[{"path": str(folder or world.folder), "work_item": "PROJ-1",
                                  "direction": "both", **settings}],
                        state_dir=state or world.state_dir)


def hand_upload(world: World, name: str, content: bytes) -> str:
    emu: Emulator = world.emu
    with api(emu) as client:
        return upload_and_complete(client, attachments_path(emu, world.item(1)["id"]), content,
                                   name=name)


def delete_attachment(world: World, attachment_id: str) -> None:
    emu = world.emu
    with api(emu) as client:
        path = attachments_path(emu, world.item(1)["id"])
        assert client.delete(f"{path}{attachment_id}/").status_code == 204


class Machine:
    """A second folder and state directory on the same work item."""

    def __init__(self, world: World, name: str, **settings: Any) -> None:
        self.world = world
        self.folder = world.root / name
        self.folder.mkdir(exist_ok=True)
        self.config = world.write_config(both(world, self.folder, world.root / f"{name}-state",
                                              **settings), path=world.root / f"{name}.yaml")

    def sync(self, *extra: str, expect: int | None = 0) -> Any:
        return self.world.sync(*extra, config=self.config, expect=expect)

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.folder).as_posix(): p.read_bytes()
                for p in sorted(self.folder.rglob("*")) if p.is_file()}


def test_hand_upload_arrives_byte_identical_and_is_not_uploaded_back(world: World) -> None:
    world.write_config(both(world))
    world.sync()
    body = os.urandom(300_000)
    hand_upload(world, "contract.pdf", body)
    run = world.sync()
    assert (world.folder / "contract.pdf").read_bytes() == body
    assert run.json["folders"][0]["downloaded"] == [{"path": "contract.pdf",
                                                     "bytes": len(body)}]
    created = world.uploaded()[0]["created_at"]
    assert abs((world.folder / "contract.pdf").stat().st_mtime
               - _unix(created)) < 1.0  # the attachment's time
    world.emu.clear_requests()
    again = world.sync()  # no echo: nothing uploaded, nothing downloaded
    assert again.json["folders"][0]["uploaded"] == []
    assert again.json["folders"][0]["downloaded"] == []
    assert writes(world.emu.requests()) == []
    assert world.names() == ["contract.pdf"]
    assert not [p for p in world.folder.iterdir() if p.name.startswith(".")]


def _unix(iso: str) -> float:
    from datetime import UTC, datetime
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def test_two_machines_converge_with_one_attachment_per_file(world: World) -> None:
    a, b = Machine(world, "a"), Machine(world, "b")
    (a.folder / "docs").mkdir()
    (a.folder / "docs" / "spec.txt").write_text("spec from a")
    (a.folder / "top.txt").write_text("top from a")
    (b.folder / "b-only.txt").write_text("from b")
    a.sync()
    b.sync()
    a.sync()
    assert a.files() == b.files() == {"b-only.txt": b"from b", "docs/spec.txt": b"spec from a",
                                      "top.txt": b"top from a"}
    assert sorted(world.names()) == ["b-only.txt", "docs \u2044 spec.txt", "top.txt"]
    world.emu.clear_requests()
    a.sync()
    b.sync()  # no cycle between the two
    assert writes(world.emu.requests()) == []


def test_newer_version_updates_an_unchanged_file_and_the_old_one_goes_to_the_trash(
        world: World) -> None:
    a, b = Machine(world, "a"), Machine(world, "b")
    (a.folder / "r.txt").write_text("version 1")
    a.sync()
    b.sync()
    (b.folder / "r.txt").write_text("version 2, longer")
    b.sync()
    run = a.sync()
    assert (a.folder / "r.txt").read_text() == "version 2, longer"
    assert run.json["folders"][0]["downloaded"][0]["path"] == "r.txt"
    trashed = list((world.root / "a-state" / "trash").rglob("r.txt"))
    assert [p.read_text() for p in trashed] == ["version 1"]
    status = world.cli("status", "--json", config=a.config).json["folders"][0]
    assert [t["path"] for t in status["trash"]] == ["r.txt"]
    assert [e["path"] for e in status["from_plane"] if e["kind"] == "downloaded"] == [
        "r.txt"]
    assert world.names() == ["r.txt"]


def test_both_changed_keeps_both_and_reports_the_conflict(world: World) -> None:
    a, b = Machine(world, "a"), Machine(world, "b")
    (a.folder / "r.txt").write_text("base")
    a.sync()
    b.sync()
    (a.folder / "r.txt").write_text("edited on a")
    (b.folder / "r.txt").write_text("edited on b")
    a.sync()
    run = b.sync(expect=1)  # someone has to look
    report = run.json["folders"][0]
    [conflict] = report["conflicts"]
    assert conflict["path"] == "r.txt" and conflict["copy"].startswith("r (Plane ")
    assert (b.folder / "r.txt").read_text() == "edited on b"
    assert (b.folder / conflict["copy"]).read_text() == "edited on a"
    status = world.cli("status", "--json", config=b.config)
    [folder] = status.json["folders"]
    assert {"kind": "conflict", "path": conflict["copy"]}.items() <= \
        next(e for e in folder["from_plane"] if e["kind"] == "conflict").items()
    assert "CONFLICT" in world.cli("status", config=b.config).stdout
    human = world.cli("sync", config=b.config)
    assert human.code == 0, str(human)  # said once; the copy is uploaded now
    a.sync()
    assert a.files() == b.files()
    assert sorted(a.files().values()) == [b"edited on a", b"edited on b"]
    assert len(world.names()) == 2


def test_removed_in_plane_goes_to_the_trash_only_when_safe(world: World) -> None:
    world.write_config(both(world, on_delete="delete"))
    for i in range(4):
        (world.folder / f"f{i}.txt").write_text(f"file {i}")
    world.sync()
    ids = {a["attributes"]["name"]: a["id"] for a in world.uploaded()}
    (world.folder / "f1.txt").write_text("changed here")  # changed: stays and is uploaded
    delete_attachment(world, ids["f0.txt"])
    delete_attachment(world, ids["f1.txt"])
    run = world.sync()
    assert not (world.folder / "f0.txt").exists()
    assert [p.read_text() for p in world.state_dir.glob("trash/*/*/f0.txt")] == ["file 0"]
    assert run.json["folders"][0]["trashed"][0]["path"] == "f0.txt"
    assert (world.folder / "f1.txt").read_text() == "changed here"
    assert sorted(world.names()) == ["f1.txt", "f2.txt", "f3.txt"]
    # More than half at once: held, named, non-zero, nothing moved.
    for a in world.uploaded():
        delete_attachment(world, a["id"])
    held = world.sync(expect=1)
    assert "removed in Plane" in held.json["folders"][0]["held"]
    assert sorted(p.name for p in world.folder.iterdir()) == ["f1.txt", "f2.txt", "f3.txt"]
    assert world.names() == []  # not uploaded again either, while held


def test_removed_in_plane_under_keep_stays_and_is_uploaded_again(world: World) -> None:
    world.write_config(both(world))
    (world.folder / "a.txt").write_text("mine")
    world.sync()
    delete_attachment(world, world.uploaded()[0]["id"])
    world.sync()
    assert (world.folder / "a.txt").read_text() == "mine"
    assert world.names() == ["a.txt"]


def test_local_deletion_of_a_hand_upload_keeps_it_and_is_not_undone(world: World) -> None:
    world.write_config(both(world, on_delete="delete"))
    for i in range(3):
        (world.folder / f"mine{i}.txt").write_text(f"mine {i}")
    hand_upload(world, "theirs.pdf", b"their pdf")
    world.sync()
    (world.folder / "theirs.pdf").unlink()
    world.sync()
    world.sync()
    assert not (world.folder / "theirs.pdf").exists()  # not downloaded again
    assert "theirs.pdf" in world.names()  # their attachment stays
    hand_upload(world, "theirs.pdf", b"their pdf, second version")
    world.sync()
    assert (world.folder / "theirs.pdf").read_bytes() == b"their pdf, second version"


def test_dry_run_lists_downloads_and_writes_nothing(world: World) -> None:
    world.write_config(both(world))
    world.sync()
    hand_upload(world, "x.txt", b"x")
    run = world.sync("--dry-run", expect=None)
    assert run.json["folders"][0]["downloaded"] == [{"path": "x.txt", "bytes": 1}]
    assert not (world.folder / "x.txt").exists()
    human = world.cli("sync", "--dry-run")
    assert "would download" in human.stdout and "x.txt" in human.stdout


def test_corrupt_bytes_are_never_put_in_place(world: World) -> None:
    world.write_config(both(world))
    world.sync()
    hand_upload(world, "x.txt", b"the real bytes")
    row = world.uploaded()[0]
    stored = world.emu._objects.get(row["asset"])  # storage rot: same size, other bytes
    assert stored is not None
    Path(stored.path).write_bytes(b"the fake bytes")
    run = world.sync(expect=1)
    [failed] = run.json["folders"][0]["failed"]
    assert failed["path"] == "x.txt" and "next pass" in failed["reason"]
    assert sorted(p.name for p in world.folder.iterdir()) == []  # no temp file either


def test_a_symlinked_directory_is_never_written_through(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    other = Machine(world, "other")
    (other.folder / "sub").mkdir()
    (other.folder / "sub" / "x.txt").write_text("x")
    other.sync()
    world.write_config(both(world))
    (world.folder / "sub").symlink_to(outside)
    run = world.sync(expect=1)
    assert list(outside.iterdir()) == []
    assert "sub/x.txt" in [f["path"] for f in run.json["folders"][0]["failed"]]


@pytest.mark.parametrize("name", ["a\x07b.txt", "re\u202etxt.exe", "x" * 300 + ".txt"])
def test_hand_upload_names_are_cleaned_for_the_filesystem(world: World, name: str) -> None:
    world.write_config(both(world))
    world.sync()
    hand_upload(world, name, b"content")
    world.sync()
    world.sync()
    assert len(world.uploaded()) == 1  # not uploaded back under the cleaned name
    assert [p.read_bytes() for p in world.folder.iterdir()] == [b"content"]
    for path in world.folder.rglob("*"):
        assert path.parent == world.folder and len(path.name.encode()) <= 255
        assert "\x07" not in path.name and "\u202e" not in path.name
        assert not path.name.startswith(".")


def test_a_temp_file_left_by_a_crash_is_removed_at_the_next_start(world: World) -> None:
    from plane_sync.sync.state import StateDB

    world.write_config(both(world))
    world.sync()
    key = world.cli("status", "--json").json["folders"][0]["key"]
    leftover = world.folder / ".plane-sync-0123456789abcdef.part"
    leftover.write_bytes(b"half a download")  # as a kill -9 mid-download leaves it
    with StateDB(world.state_dir / "state.db") as state:
        state.add_temp_file(key, leftover.name, 0.0)
    run = world.sync()
    assert not leftover.exists()
    assert run.json["folders"][0]["uploaded"] == []  # never taken for a file either


def test_verify_names_an_attachment_not_downloaded_yet_but_not_a_tombstone(
        world: World) -> None:
    world.write_config(both(world))
    (world.folder / "mine.txt").write_text("mine")
    world.sync()
    hand_upload(world, "new.pdf", b"new pdf")
    run = world.cli("verify", "--json")
    assert run.code == 1, str(run)
    assert [(d["kind"], d["path"]) for d in run.json["folders"][0]["differences"]] == [
        ("missing", "new.pdf")]
    world.sync()
    assert world.cli("verify").code == 0
    (world.folder / "new.pdf").unlink()  # deleted here: a tombstone, not a difference
    world.sync()
    assert world.cli("verify").code == 0
