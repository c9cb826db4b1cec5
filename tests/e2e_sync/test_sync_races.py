"""Several ``sync`` processes at once, and ``sync`` killed at random moments."""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from plane_sync.emulator.wire import RequestRecord
from tests.e2e_sync.conftest import World, WorldFactory, finish, kill, make_files, writes


def wait_for_requests(world: World, seen: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(world.emu.requests()) <= seen and proc.poll() is None:
        assert time.monotonic() < deadline, "the sync never reached Plane"
        time.sleep(0.01)


def in_flight(requests: list[RequestRecord]) -> int:
    """Uploads a run created and neither completed nor abandoned (its requests, in order)."""
    api = [r for r in requests if r.server == "api" and r.status < 300]
    creates = sum(r.method == "POST" and r.path.endswith("attachments/") for r in api)
    ends = sum(r.method in ("PATCH", "DELETE") and "attachments/" in r.path
               and not r.path.endswith("attachments/") for r in api)
    return creates - ends


def assert_each_file_once(world: World, names: list[str]) -> None:
    everything = world.uploaded(include_pending=True)
    pending = [a for a in everything if not a["is_uploaded"]]
    assert pending == [], f"{len(pending)} pending attachment(s) left"
    counts = Counter(a["attributes"]["name"] for a in everything)
    assert sorted(counts) == sorted(names)
    assert [n for n, c in counts.items() if c != 1] == []


def assert_in_sync(world: World, count: int, config: Path | None = None) -> None:
    world.emu.clear_requests()
    folder = world.sync(config=config).json["folders"][0]
    assert folder["uploaded"] == [] and folder["waiting"] == [] and folder["failed"] == []
    assert folder["in_sync"] == count
    assert writes(world.emu.requests()) == []


@pytest.mark.slow
def test_two_processes_on_one_folder_attach_every_file_once(
        world_factory: WorldFactory) -> None:
    world = world_factory()
    names = make_files(world.folder, 120)
    # Slow answers make the two runs overlap for their whole length.
    world.emu.faults.set(delay=0.004)
    config_a = world.write_config(path=world.root / "a.yaml",
                                  state_dir=world.root / "state-a")
    config_b = world.write_config(path=world.root / "b.yaml",
                                  state_dir=world.root / "state-b")
    procs = [world.start("sync", "--json", config=c) for c in (config_a, config_b)]
    runs = [finish(p) for p in procs]
    world.emu.faults.clear()

    for run in runs:
        assert run.code == 0, str(run)
    reports = [run.json["folders"][0] for run in runs]
    uploaded = [u["path"] for r in reports for u in r["uploaded"]]
    assert sorted(uploaded) == sorted(set(uploaded))  # nobody uploaded a file twice
    assert len(uploaded) == 120
    assert_each_file_once(world, names)
    # Each side's next run finds everything in sync, and forgets what it saw pending.
    assert_in_sync(world, 120, config_b)
    assert_in_sync(world, 120, config_a)
    for config in (config_a, config_b):
        status = world.cli("status", "--json", config=config).json["folders"][0]
        assert status["pending"] == 0 and status["state"] == "ok"


@pytest.mark.slow
def test_a_sync_killed_at_random_moments_ends_with_every_file_once(
        world_factory: WorldFactory) -> None:
    world = world_factory()
    names = make_files(world.folder, 200)
    # ~25 files a second with 4 upload workers (0.04 s an answer, 2 answers a file, 4 at
    # once): each run is cut short, with uploads in flight on several workers.
    world.emu.faults.set(delay=0.04)
    world.write_config(upload_workers=4)
    rng = random.Random(20240611)
    kills = pending_seen = most_in_flight = 0
    for _ in range(10):
        seen = len(world.emu.requests())
        proc = world.start("sync", "--json")
        wait_for_requests(world, seen, proc)  # time the kill from its first request
        time.sleep(rng.uniform(0.05, 1.5))
        if proc.poll() is None:
            kills += 1
        kill(proc)
        pending_seen += sum(not a["is_uploaded"]
                            for a in world.uploaded(include_pending=True))
        most_in_flight = max(most_in_flight, in_flight(world.emu.requests()[seen:]))
    assert kills >= 5  # most runs really were cut short
    assert pending_seen >= 1  # and some left an unfinished upload behind
    # From the emulator's log: some kill cut through uploads on several workers at once.
    assert most_in_flight >= 2, "no kill caught two uploads in flight"
    world.emu.faults.clear()

    final = world.sync().json["folders"][0]
    assert final["failed"] == [] and final["waiting"] == []
    assert_each_file_once(world, names)
    assert_in_sync(world, 200)
