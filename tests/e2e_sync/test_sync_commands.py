"""Exit codes, ``status`` and ``check``, and subfolder mapping, through the CLI."""

from __future__ import annotations

import socket

from tests.e2e_sync.conftest import World, attachment_list_gets, make_files, writes


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_wrong_api_key_exits_3_without_showing_any_key(world: World) -> None:
    make_files(world.folder, 2)
    world.write_config()
    wrong = "plane_api_" + "ab" * 16
    for args in (("sync",), ("sync", "--json"), ("check",)):
        run = world.cli(*args, api_key=wrong)
        assert run.code == 3, str(run)
        assert "rejected the API key" in run.stderr, str(run)
        assert "Traceback" not in run.stderr
        for key in (wrong, world.api_key):
            assert key not in run.stdout + run.stderr
    assert world.uploaded(include_pending=True) == []


def test_plane_unreachable_exits_3(world: World) -> None:
    make_files(world.folder, 2)
    world.write_config(url=f"http://127.0.0.1:{closed_port()}", timeout="2s")
    run = world.cli("sync")
    assert run.code == 3, str(run)
    assert "unreachable" in run.stderr.lower(), str(run)
    assert "Traceback" not in run.stderr
    assert world.api_key not in run.stdout + run.stderr


def test_expired_policies_are_told_once_and_retried_at_a_printed_time(world: World) -> None:
    make_files(world.folder, 3)
    world.write_config()
    world.emu.faults.set(expire_policies=True)  # storage refuses every policy Plane issues
    run = world.sync(expect=1)
    folder = run.json["folders"][0]
    # One file finds out (create + storage 403 + delete); the others are not even tried.
    creates = [r for r in world.emu.requests() if r.method == "POST" and r.server == "api"]
    assert len(creates) == 1
    assert folder["failed"] == []
    assert {f["path"] for f in folder["waiting"]} == {"file0000.txt", "file0001.txt",
                                                      "file0002.txt"}
    assert "SIGNED_URL_EXPIRATION" in folder["paused"] and "until" in folder["paused"]
    assert set(folder["next_check"]) == {"file0000.txt", "file0001.txt", "file0002.txt"}
    assert run.json["exit_code"] == 1
    assert world.uploaded(include_pending=True) == []  # the pending one was cleaned up

    status = world.cli("status", "--json")
    assert status.code == 0, str(status)
    (info,) = status.json["folders"]
    assert info["state"] == "waiting" and "SIGNED_URL_EXPIRATION" in info["reason"]
    assert {w["path"] for w in info["waiting"]} == {"file0000.txt", "file0001.txt",
                                                    "file0002.txt"}
    assert all(w["next_check"] for w in info["waiting"])

    # A rerun before that time tries one file, not all: still exit 1 while it lasts.
    world.emu.clear_requests()
    again = world.sync(expect=1).json["folders"][0]
    assert len(again["waiting"]) == 3 and again["paused"]
    assert len([r for r in writes(world.emu.requests()) if r.server == "api"]) == 2
    # Once it is over, one run catches up with every file.
    world.emu.faults.clear()
    done = world.sync().json["folders"][0]
    assert len(done["uploaded"]) == 3 and done["paused"] is None


def test_a_failed_upload_exits_1_is_reported_and_tried_again_at_its_time(world: World) -> None:
    make_files(world.folder, 2)
    world.write_config()
    world.emu.faults.set(storage_error_rate=1.0)  # the storage host keeps answering 503
    run = world.sync(expect=1)
    folder = run.json["folders"][0]
    assert {f["path"] for f in folder["failed"]} == {"file0000.txt", "file0001.txt"}
    assert world.uploaded(include_pending=True) == []  # the pending ones were cleaned up
    (info,) = world.cli("status", "--json").json["folders"]
    assert info["state"] == "error" and all(f["next_retry_at"] for f in info["failed"])

    # A rerun before the retry time tries one file (the probe), not both: still exit 1.
    world.emu.clear_requests()
    again = world.sync(expect=1).json["folders"][0]
    assert len(again["failed"]) == 2
    assert any("next try" in f["reason"] for f in again["failed"])
    creates = [r for r in world.emu.requests() if r.server == "api" and r.method == "POST"]
    assert len(creates) == 1
    # The storage host is back: the probe succeeds, and the run catches up with both.
    world.emu.faults.clear()
    done = world.sync().json["folders"][0]
    assert len(done["uploaded"]) == 2 and done["failed"] == []


def test_status_after_a_sync_shows_folders_and_skips(world: World) -> None:
    make_files(world.folder, 3)
    (world.folder / "empty.txt").write_bytes(b"")
    world.write_config()

    before = world.cli("status")
    assert before.code == 0 and "no folder has been synced yet" in before.stdout

    first = world.cli("sync")
    assert first.code == 0, str(first)
    assert first.stdout.count("empty.txt") == 1
    second = world.cli("sync")
    assert second.code == 0, str(second)
    # The skip is logged when first seen, not on every pass.
    assert "empty.txt" in first.stderr and "empty.txt" not in second.stderr

    status = world.cli("status")
    assert status.code == 0, str(status)
    assert "PROJ-1" in status.stdout and str(world.folder) in status.stdout
    assert "state: ok" in status.stdout
    assert "3 in sync" in status.stdout
    assert status.stdout.count("empty.txt") == 1
    assert "skipped  empty.txt: empty file" in status.stdout

    info = world.cli("status", "--json").json
    (folder,) = info["folders"]
    assert folder["in_sync"] == 3 and folder["state"] == "ok"
    assert [s["path"] for s in folder["skipped"]] == ["empty.txt"]
    assert info["daemon"] == {"running": False}


def test_check_prints_which_folder_goes_where(world: World) -> None:
    other = world.root / "other"
    other.mkdir()
    missing_item = world.root / "missing"
    missing_item.mkdir()
    world.write_config(folders=[
        {"path": str(world.folder), "work_item": "PROJ-1"},
        {"path": str(other), "work_item": "proj-2"},
        {"path": str(missing_item), "work_item": "PROJ-77"},
    ])
    world.emu.clear_requests()
    run = world.cli("check")
    assert run.code == 1, str(run)  # PROJ-77 does not exist
    lines = run.stdout.splitlines()
    assert "API key accepted" in lines[0]
    assert lines[1].split() == ["FOLDER", "WORK", "ITEM", "TITLE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows[str(world.folder)][:1] == ["PROJ-1"]
    assert " ".join(rows[str(world.folder)][1:]) == world.item(1)["name"]
    assert rows[str(other)][:1] == ["PROJ-2"]
    assert rows[str(missing_item)][:2] == ["PROJ-77", "UNRESOLVED:"]
    assert writes(world.emu.requests()) == []

    world.write_config(folders=[{"path": str(world.folder), "work_item": "PROJ-1"}])
    assert world.cli("check").code == 0


def test_subfolders_map_to_their_work_items(world: World) -> None:
    names = {1: "PROJ-1 specs", 2: "PROJ-2", 3: "proj-3 misc notes"}
    for number, name in names.items():
        sub = world.folder / name
        sub.mkdir()
        (sub / f"for-{number}.txt").write_text(f"belongs to PROJ-{number}\n")
        (sub / "deeper").mkdir()
        (sub / "deeper" / "common.txt").write_text(f"common of {number}\n")
    stray = world.folder / "meeting notes"
    stray.mkdir()
    (stray / "lost.txt").write_text("no work item\n")
    (world.folder / "loose.txt").write_text("directly in the mapped folder\n")
    world.write_config(folders=[{"path": str(world.folder), "work_items": "subfolders"}])

    run = world.sync()
    report = run.json
    by_item = {f["work_item"]: f for f in report["folders"]}
    assert sorted(by_item) == ["PROJ-1", "PROJ-2", "PROJ-3"]
    for number, name in names.items():
        assert by_item[f"PROJ-{number}"]["path"] == str(world.folder / name)
        assert world.names(number) == sorted([f"for-{number}.txt", "deeper \u2044 common.txt"])
    problems = {p["path"]: p for p in report["problems"]}
    assert set(problems) == {str(stray), str(world.folder / "loose.txt")}
    assert problems[str(stray)]["kind"] == "unmapped"
    assert "not named after a work item" in problems[str(stray)]["reason"]
    uploaded = [u["path"] for f in report["folders"] for u in f["uploaded"]]
    assert "lost.txt" not in uploaded and "loose.txt" not in uploaded

    world.emu.clear_requests()
    human = world.cli("sync")
    assert human.code == 0, str(human)
    assert str(stray) in human.stdout and "UNMAPPED" in human.stdout
    # A repeat run: one listing per work item, nothing written.
    assert len(attachment_list_gets(world.emu.requests())) == 3
    assert writes(world.emu.requests()) == []

    check = world.cli("check")
    assert check.code == 0, str(check)
    assert str(stray) in check.stdout


def test_a_subfolder_named_after_a_missing_work_item_fails_only_itself(world: World) -> None:
    (world.folder / "PROJ-1").mkdir()
    (world.folder / "PROJ-1" / "a.txt").write_text("a\n")
    (world.folder / "PROJ-404 gone").mkdir()
    (world.folder / "PROJ-404 gone" / "b.txt").write_text("b\n")
    world.write_config(folders=[{"path": str(world.folder), "work_items": "subfolders"}])

    run = world.sync(expect=1)
    assert [f["work_item"] for f in run.json["folders"]] == ["PROJ-1"]
    assert world.names(1) == ["a.txt"]
    (problem,) = run.json["problems"]
    assert problem["kind"] == "unresolved" and problem["work_item"] == "PROJ-404"


def test_a_failure_is_forgotten_once_its_file_is_gone_or_in_sync(world: World) -> None:
    make_files(world.folder, 2)
    world.write_config()
    world.emu.faults.set(expire_policies=True)
    world.sync(expect=1)
    world.emu.faults.clear()
    (world.folder / "file0000.txt").unlink()
    # file0001.txt arrives by another way (another machine with its own state).
    other = world.write_config(path=world.root / "other.yaml",
                               state_dir=world.root / "other-state")
    world.sync(config=other)

    run = world.sync()
    assert run.json["folders"][0]["failed"] == []
    info = world.cli("status", "--json").json["folders"][0]
    assert info["failed"] == [] and info["state"] == "ok"
