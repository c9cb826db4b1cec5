"""Cases 3, 4 and 5: nothing is deleted that this folder did not own, slow emptying is held,
and a held deletion names its way out."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e_sync.conftest import World, make_files
from tests.reliability.conftest import differences


def deleting(world: World, folder: Path, state: str, name: str) -> Path:
    return world.write_config(
        path=world.root / f"{name}.yaml", state_dir=world.root / state,
        folders=[{"path": str(folder), "work_item": "PROJ-1", "on_delete": "delete"}])


def test_case3_two_folders_feeding_one_work_item_leave_each_other_alone(world: World) -> None:
    other = world.root / "other"
    other.mkdir()
    (world.folder / "a.txt").write_text("from folder A")
    (other / "b.txt").write_text("from folder B")
    config_a = deleting(world, world.folder, "state-a", "a")
    config_b = deleting(world, other, "state-b", "b")
    for _ in range(3):
        for config in (config_a, config_b):
            run = world.sync(config=config)
            assert run.json["folders"][0]["deleted"] == [], str(run)
    assert world.names() == ["a.txt", "b.txt"]
    for config in (config_a, config_b):
        assert world.cli("verify", config=config).code == 0
    # Each still deletes its own gone files.
    (world.folder / "a.txt").unlink()
    (world.folder / "a2.txt").write_text("keeps the folder from looking emptied")
    (world.folder / "a3.txt").write_text("and another")
    world.sync(config=config_a)
    world.sync(config=config_a)
    assert world.names() == ["a2.txt", "a3.txt", "b.txt"]


def test_case3_with_the_state_lost_nothing_is_deleted_until_seen_again(world: World) -> None:
    make_files(world.folder, 4)
    config = deleting(world, world.folder, "state", "c")
    world.sync(config=config)
    shutil.rmtree(world.root / "state")
    (world.folder / "file0000.txt").unlink()
    run = world.sync(config=config)  # a first pass: it has seen nothing gone
    assert run.json["folders"][0]["deleted"] == []
    assert len(world.names()) == 4


def test_case3_two_machines_mirroring_one_share_agree(world: World) -> None:
    make_files(world.folder, 4)
    config_a = deleting(world, world.folder, "state-a", "a")
    config_b = deleting(world, world.folder, "state-b", "b")
    world.sync(config=config_a)
    world.sync(config=config_b)  # both have seen every file
    (world.folder / "file0001.txt").unlink()
    world.sync(config=config_b)
    world.sync(config=config_a)
    assert len(world.names()) == 3 and differences(world) == []
    for config in (config_a, config_b):
        assert world.cli("verify", config=config).code == 0


def test_case4_a_folder_emptied_one_file_at_a_time_is_held_like_one_emptied_at_once(
        world: World) -> None:
    names = make_files(world.folder, 10)
    config = deleting(world, world.folder, "state", "d")
    world.sync(config=config)
    moved = world.root / "moved"
    moved.mkdir()
    codes = []
    for name in names:
        (world.folder / name).rename(moved / name)
        codes.append(world.sync(config=config, expect=None).code)
    # Half may go (as at once); then the guard holds, and says so with exit 1.
    assert len(world.names()) == 5
    assert codes[:5] == [0] * 5 and set(codes[5:]) == {1}


def test_case5_a_held_deletion_names_its_way_out_and_the_override_is_for_one_run(
        world: World) -> None:
    names = make_files(world.folder, 4)
    config = deleting(world, world.folder, "state", "e")
    world.sync(config=config)
    for name in names:
        (world.folder / name).unlink()
    (world.folder / "kept.txt").write_text("still here")
    held = world.cli("sync", config=config)
    assert held.code == 1 and "HELD" in held.stdout
    assert f"plane-sync sync --allow-deletes {world.folder}" in held.stdout
    status = world.cli("status", config=config)
    assert "--allow-deletes" in status.stdout
    assert world.cli("verify", config=config).code == 1  # the attachments are extra

    wrong = world.cli("sync", "--allow-deletes", str(world.root / "elsewhere"), config=config)
    assert wrong.code == 2 and "no configured folder" in wrong.stderr
    run = world.sync("--allow-deletes", str(world.folder), config=config)
    assert len(run.json["folders"][0]["deleted"]) == 4
    assert world.names() == ["kept.txt"]
    assert world.cli("verify", config=config).code == 0
    assert world.cli("sync", config=config).code == 0
