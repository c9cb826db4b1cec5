"""The daemon's upload workers: a large file on a slow link (the bandwidth cap) holds back
neither small files nor other folders, and every file is uploaded exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from plane_sync.emulator import Emulator

from .conftest import DaemonFactory, attached_names, folder_entry

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
