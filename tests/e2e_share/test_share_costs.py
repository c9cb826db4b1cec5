"""On a real sshfs share: polling is chosen, a change costs reads of the change only, and an
idle rescan reads no file content.

Bytes read are counted by the file server itself: its SFTP subsystem logs, for every file it
closes, the bytes read from it (share.py). That is what crossed the network.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator
from tests.e2e_daemon.conftest import DaemonFactory, attached_names, folder_entry, wait_until
from tests.e2e_share.conftest import MountShare
from tests.e2e_share.share import SftpServer


def make_share(export: Path, count: int, size: int = 1000) -> list[str]:
    names = []
    for i in range(count):
        rel = f"d{i % 10}/f{i:04d}.txt"
        (export / rel).parent.mkdir(exist_ok=True)
        (export / rel).write_bytes(f"{rel} ".encode() * (size // 12) + b"\n")
        names.append(rel.replace("/", " ⁄ "))
    return sorted(names)


def test_a_polled_share_reads_only_what_changed(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        server: SftpServer, mount_share: MountShare, tmp_path: Path) -> None:
    names = make_share(server.export, 200)
    share_bytes = sum(p.stat().st_size for p in server.export.rglob("*") if p.is_file())
    share = mount_share(tmp_path / "mnt")
    daemon = daemon_factory([folder_entry(share.mount_point, item["identifier"],
                                          rescan_interval="3s")],
                            watch="auto", poll_interval=1.0, settle=0.5)
    daemon.start("--log-level", "debug")
    added = daemon.wait_event("watch.added")
    assert added["mode"] == "poll" and "fuse.sshfs" in added["reason"]
    wait_until(lambda: attached_names(emu, item["id"]) == names, 120, "200 files attached")
    daemon.wait_event("daemon.initial_sync_done", timeout=60)
    daemon.wait_passes_uploaded(200)

    mark = server.log_mark()
    (server.export / "d3" / "new.txt").write_bytes(b"n" * 100)  # another machine writes
    wait_until(lambda: "d3 ⁄ new.txt" in attached_names(emu, item["id"]), 60,
               "new.txt attached")
    read, files = server.bytes_read(mark)
    assert set(files) == {str(server.export / "d3" / "new.txt")}
    assert read <= 2 * 100  # hashed once, read once more as it was sent
    assert read < share_bytes / 100

    # Idle rescans (every 3 s) read nothing; no pass loop.
    idle = server.log_mark()
    passes = len(daemon.events("sync.pass"))
    wait_until(lambda: len(daemon.events("sync.pass")) >= passes + 2, 30, "two idle rescans")
    time.sleep(1.0)
    assert server.bytes_read(idle) == (0, [])
    assert daemon.events("sync.loop_detected") == []
    assert len(daemon.uploads()) == 201  # nothing uploaded twice
    assert daemon.stop() == 0
