"""The daemon's upload workers: a large file on a slow link (the bandwidth cap) holds back
neither small files nor other folders, every file is uploaded exactly once, and a kill -9
with uploads in flight on several workers is cleaned up by the next start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from plane_sync.emulator import Emulator
from tests.e2e_sync.test_sync_races import in_flight

from .conftest import DaemonFactory, attached_names, folder_entry, wait_until

pytestmark = pytest.mark.timeout(180)
BIG = 2 * 1024 * 1024
RATE = 256 * 1024  # bytes a second: the big file takes about 8 s


def test_a_large_file_on_a_slow_link_does_not_hold_other_folders_back(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    big_item, small_item = emu.work_items[0], emu.work_items[1]
    slow, quick = tmp_path / "videos", tmp_path / "notes"
    slow.mkdir()
    quick.mkdir()
    (slow / "big.bin").write_bytes(b"v" * BIG)
    small = [f"note{n}.txt" for n in range(6)]
    for name in small:
        (quick / name).write_text(f"{name}\n")
    folders = [folder_entry(slow, big_item["identifier"]),
               folder_entry(quick, small_item["identifier"])]
    daemon = daemon_factory(folders)
    config = daemon_factory.config(folders)
    config["plane"]["max_upload_rate"] = f"{RATE // 1024}KiB"
    config["plane"]["upload_workers"] = 4
    daemon.write_config(config)
    daemon.start()
    daemon.wait_event("upload.done", timeout=90, where=lambda e: e["path"] == "big.bin")
    assert attached_names(emu, small_item["id"]) == small
    done = [e["path"] for e in daemon.uploads()]
    assert sorted(done) == sorted([*small, "big.bin"])  # each exactly once
    assert done[-1] == "big.bin"  # the small files did not wait for it
    [big] = [e for e in daemon.uploads() if e["path"] == "big.bin"]
    assert big["ms"] >= (BIG / RATE - 0.25) * 1000  # the cap held (less its 1/4 s bucket)
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    assert daemon.stop() == 0
    everything = emu.attachments(big_item["id"], include_pending=True, include_deleted=True)
    assert [r["attributes"]["name"] for r in everything] == ["big.bin"]


def test_a_daemon_killed_with_uploads_in_flight_on_four_workers_ends_with_each_file_once(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    item = emu.work_items[0]
    folder = tmp_path / "docs"
    folder.mkdir()
    names = [f"doc{n:02d}.txt" for n in range(40)]
    for name in names:
        (folder / name).write_text(f"{name}\n" * 50)
    folders = [folder_entry(folder, item["identifier"])]
    daemon = daemon_factory(folders)
    config = daemon_factory.config(folders)
    config["plane"]["upload_workers"] = 4
    daemon.write_config(config)
    emu.faults.set(delay=0.05)  # every answer takes a moment: the workers overlap
    daemon.start()
    most = 0
    deadline = time.monotonic() + 60
    while most < 2:  # kill -9 once the request log shows two creates not yet completed
        assert time.monotonic() < deadline, "never two uploads in flight at once"
        daemon.assert_running()
        most = in_flight(emu.requests())
        time.sleep(0.005)
    daemon.kill()
    left = [r for r in emu.attachments(item["id"], include_pending=True)
            if not r["is_uploaded"]]
    assert left, "the kill left no pending upload behind"
    emu.faults.clear()
    daemon.start()  # the journal of every worker's upload is cleaned up, the rest uploaded
    wait_until(lambda: attached_names(emu, item["id"]) == names, 60, "every file attached")
    daemon.wait_event("daemon.initial_sync_done", timeout=60)
    assert daemon.stop() == 0
    everything = emu.attachments(item["id"], include_pending=True)
    assert sorted(r["attributes"]["name"] for r in everything) == names  # once, none pending
