"""``plane-sync sync`` against the emulator: uploads, repeat runs, changes, dry runs, safety."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.e2e_sync.conftest import (
    World,
    attachment_list_gets,
    external_ids,
    kill,
    make_files,
    writes,
)


@pytest.mark.slow
def test_500_files_upload_once_then_a_second_run_only_lists(world: World) -> None:
    names = make_files(world.folder, 500)
    world.write_config()

    first = world.sync().json
    assert sorted(u["path"] for u in first["folders"][0]["uploaded"]) == names
    attached = world.uploaded()
    assert sorted(a["attributes"]["name"] for a in attached) == names
    assert len(set(external_ids(attached))) == 500
    stored = [r for r in world.emu.requests() if r.server == "storage"]
    assert len(stored) == 500  # each file's bytes went to storage exactly once

    world.emu.clear_requests()
    second = world.sync().json
    folder = second["folders"][0]
    assert folder["uploaded"] == [] and folder["in_sync"] == 500
    log = world.emu.requests()
    assert writes(log) == []
    assert len(attachment_list_gets(log)) == 1
    # Besides the one listing: resolving PROJ-1 and the server's file size limit.
    others = {(r.method, r.path) for r in log} - {(r.method, r.path)
                                                  for r in attachment_list_gets(log)}
    assert others == {("GET", "/api/v1/workspaces/acme/work-items/PROJ-1/"),
                      ("GET", "/api/instances/")}
    assert world.uploaded() == attached


def test_without_the_state_directory_nothing_is_uploaded_again(world: World) -> None:
    make_files(world.folder, 20)
    world.write_config()
    world.sync()
    before = world.uploaded()
    shutil.rmtree(world.state_dir)

    world.emu.clear_requests()
    run = world.sync().json
    assert run["folders"][0]["uploaded"] == []
    assert run["folders"][0]["in_sync"] == 20
    assert writes(world.emu.requests()) == []
    assert world.uploaded() == before


@pytest.mark.parametrize("on_change", ["replace", "keep"])
def test_a_changed_file_is_uploaded_again(world: World, on_change: str) -> None:
    (world.folder / "report.txt").write_text("version one\n")
    (world.folder / "other.txt").write_text("unchanged\n")
    world.write_config(folders=[{"path": str(world.folder), "work_item": "PROJ-1",
                                 "on_change": on_change}])
    world.sync()
    (old,) = [a for a in world.uploaded() if a["attributes"]["name"] == "report.txt"]

    (world.folder / "report.txt").write_text("version two, longer\n")
    os.utime(world.folder / "report.txt", ns=(1, 2_000_000_000))  # surely another mtime
    run = world.sync().json["folders"][0]
    assert [u["path"] for u in run["uploaded"]] == ["report.txt"]
    reports = [a for a in world.uploaded() if a["attributes"]["name"] == "report.txt"]
    assert any(a["attributes"]["size"] == len("version two, longer\n") for a in reports)
    if on_change == "replace":
        assert [d["name"] for d in run["deleted"]] == ["report.txt"]
        assert len(reports) == 1 and reports[0]["id"] != old["id"]
    else:
        assert run["deleted"] == []
        assert {a["id"] for a in reports} >= {old["id"]} and len(reports) == 2
    assert len(world.uploaded()) == len(reports) + 1
    # And the next pass has nothing to do.
    world.emu.clear_requests()
    assert world.sync().json["folders"][0]["uploaded"] == []
    assert writes(world.emu.requests()) == []


def test_dry_run_sends_no_write_and_says_what_it_would_do(world: World) -> None:
    make_files(world.folder, 3)
    world.write_config()
    world.emu.clear_requests()

    run = world.cli("sync", "--dry-run")
    assert run.code == 0, str(run)
    assert writes(world.emu.requests()) == []
    assert world.uploaded(include_pending=True) == []
    for name in ("file0000.txt", "file0001.txt", "file0002.txt"):
        assert f"would upload {name}" in " ".join(run.stdout.split())

    as_json = world.sync("--dry-run").json
    assert as_json["dry_run"] is True
    assert len(as_json["folders"][0]["uploaded"]) == 3
    assert writes(world.emu.requests()) == []
    # A real run afterwards still has everything to do.
    assert len(world.sync().json["folders"][0]["uploaded"]) == 3


def test_dry_run_of_deletions_deletes_nothing(world: World) -> None:
    make_files(world.folder, 4)
    world.write_config(folders=[{"path": str(world.folder), "work_item": "PROJ-1",
                                 "on_delete": "delete"}])
    world.sync()
    (world.folder / "file0000.txt").unlink()
    world.emu.clear_requests()
    run = world.sync("--dry-run").json["folders"][0]
    assert [d["name"] for d in run["deleted"]] == ["file0000.txt"]
    assert writes(world.emu.requests()) == []
    assert len(world.uploaded()) == 4


def test_a_symlink_pointing_outside_is_never_uploaded(world: World) -> None:
    secret = world.root / "secret.txt"
    secret.write_text("not for Plane\n")
    (world.folder / "link.txt").symlink_to(secret)
    (world.folder / "dirlink").symlink_to(world.root)
    (world.folder / "real.txt").write_text("fine\n")
    world.write_config()

    run = world.sync().json["folders"][0]
    assert [u["path"] for u in run["uploaded"]] == ["real.txt"]
    skipped = {x["path"]: x["reason"] for x in run["skipped"]}
    assert set(skipped) == {"link.txt", "dirlink"}
    assert all("link" in reason for reason in skipped.values()), skipped
    assert world.names() == ["real.txt"]
    stored = [r for r in world.emu.requests() if r.server == "storage"]
    assert len(stored) == 1 and all(r.body_bytes < 2000 for r in stored)


def test_files_plane_would_refuse_are_skipped_once_with_a_reason(world: World) -> None:
    (world.folder / "empty.txt").write_bytes(b"")
    (world.folder / "big.bin").write_bytes(b"x" * 2048)
    (world.folder / "ok.txt").write_text("fine\n")
    world.write_config(file_size_limit=1024)

    run = world.sync().json["folders"][0]
    skipped = {s["path"]: s["reason"] for s in run["skipped"]}
    assert set(skipped) == {"empty.txt", "big.bin"}
    assert "empty" in skipped["empty.txt"]
    assert "limit" in skipped["big.bin"]
    assert world.names() == ["ok.txt"]

    world.emu.clear_requests()
    again = world.sync().json["folders"][0]
    assert {s["path"] for s in again["skipped"]} == {"empty.txt", "big.bin"}
    assert again["failed"] == []
    assert writes(world.emu.requests()) == []  # not retried on every pass


def test_a_missing_folder_deletes_nothing(world: World) -> None:
    make_files(world.folder, 5)
    world.write_config(folders=[{"path": str(world.folder), "work_item": "PROJ-1",
                                 "on_delete": "delete"}])
    world.sync()
    shutil.rmtree(world.folder)
    world.emu.clear_requests()

    run = world.sync(expect=1)
    folder = run.json["folders"][0]
    assert folder["unavailable"]
    assert folder["deleted"] == []
    assert writes(world.emu.requests()) == []
    assert len(world.uploaded()) == 5


def test_deleting_more_than_half_is_held(world: World) -> None:
    names = make_files(world.folder, 10)
    world.write_config(folders=[{"path": str(world.folder), "work_item": "PROJ-1",
                                 "on_delete": "delete"}])
    world.sync()
    for name in names[:6]:
        (world.folder / name).unlink()
    world.emu.clear_requests()

    run = world.sync(expect=1)  # held deletions: not in sync, and the exit code says so
    folder = run.json["folders"][0]
    assert folder["held"] and "6 of 10" in folder["held"]
    assert folder["deleted"] == []
    assert writes(world.emu.requests()) == []
    assert len(world.uploaded()) == 10

    status = world.cli("status")
    assert status.code == 0, str(status)
    assert "held" in status.stdout and "6 of 10" in status.stdout

    # Deleting fewer than half goes ahead.
    for name in names[:6]:
        (world.folder / name).write_text(f"{name} back\n")
    world.sync()
    (world.folder / names[9]).unlink()
    run = world.sync().json["folders"][0]
    assert [d["name"] for d in run["deleted"]] == [names[9]]


def test_dry_run_of_a_changed_file_shows_the_replacement(world: World) -> None:
    (world.folder / "plan.txt").write_text("one\n")
    world.write_config()
    world.sync()
    (world.folder / "plan.txt").write_text("two, longer\n")
    world.emu.clear_requests()
    run = world.sync("--dry-run").json["folders"][0]
    assert [u["path"] for u in run["uploaded"]] == ["plan.txt"]
    assert [d["name"] for d in run["deleted"]] == ["plan.txt"]
    assert writes(world.emu.requests()) == []


def test_a_second_sync_on_a_busy_state_directory_exits_2(world: World) -> None:
    make_files(world.folder, 40)
    world.write_config()
    world.emu.faults.set(delay=0.05)
    first = world.start("sync")
    try:
        seen = 0
        while seen == 0 and first.poll() is None:  # wait until it works, holding the lock
            time.sleep(0.01)
            seen = len(world.emu.requests())
        second = world.cli("sync")
        assert second.code == 2, str(second)
        assert "already uses the state directory" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        kill(first)
