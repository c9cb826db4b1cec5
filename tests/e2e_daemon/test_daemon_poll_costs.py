"""On a polled folder a change costs what the change is: only the new file is read, one pass
takes it, and no pass loop follows. (The same on a real network share:
tests/e2e_share.)

A polled local folder behaves like a share here: the daemon does not trust ctime on polled
folders, so before the fix every file went back to "first look" after any change, every
file showed as pending, and every file was hashed again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator
from tests.e2e_daemon.conftest import DaemonFactory, attached_names, folder_entry, wait_until


def _passes(daemon: Any) -> list[dict[str, Any]]:
    return daemon.events("sync.pass")  # type: ignore[no-any-return]


def test_one_new_file_on_a_polled_folder_reads_only_that_file(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    names = [f"doc{i:02d}.txt" for i in range(40)]
    for name in names:
        (folder / name).write_text(name * 10)
    # Rescans every 2 s: idle rescans must read nothing either.
    daemon = daemon_factory([folder_entry(folder, item["identifier"], rescan_interval="2s")],
                            watch="poll", poll_interval=0.5, settle=0.3)
    daemon.start("--log-level", "debug")
    wait_until(lambda: attached_names(emu, item["id"]) == names, 60, "40 files attached")
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    daemon.wait_passes_uploaded(40)
    before = len(_passes(daemon))

    (folder / "new.txt").write_text("new")
    wait_until(lambda: "new.txt" in attached_names(emu, item["id"]), 30, "new.txt attached")
    uploaded_at = len(_passes(daemon))
    time.sleep(3.0)  # a pass loop would show as a pass every settle time (0.3 s)
    after = _passes(daemon)[before:]

    assert sum(p["hashed"] for p in after) == 1, after
    assert sum(p["hashed_bytes"] for p in after) == len("new")
    assert sum(p["uploaded"] for p in after) == 1
    # The settle time counts from the poll that saw the file: the first pass takes it (no
    # pass finds it still "changing"), and no pass showed other files pending.
    assert [p["waiting"] for p in after] == [0] * len(after), after
    # Rescans (2 s +-10%) and nothing else: at most two in 3 s, plus the poller's own.
    assert len(after) - (uploaded_at - before) <= 3, after
    assert daemon.events("sync.loop_detected") == []
    assert daemon.stop() == 0
