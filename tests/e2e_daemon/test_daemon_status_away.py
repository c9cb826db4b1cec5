"""``status`` of a folder that went away keeps what its last pass counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator
from tests.e2e_daemon.conftest import (
    REPO,
    DaemonFactory,
    attached_names,
    folder_entry,
    wait_until,
)


def test_status_of_an_unmounted_folder_keeps_its_last_counts(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    names = [f"doc{i}.txt" for i in range(5)]
    for name in names:
        (folder / name).write_text(name)
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=0.2)
    daemon.start()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 30, "five files attached")
    daemon.wait_event("daemon.initial_sync_done", timeout=30)

    def status() -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "plane_sync", "status", "--json", "-c",
                               str(daemon.config_path)], cwd=REPO, capture_output=True,
                              text=True, timeout=60, check=True)
        [entry] = json.loads(done.stdout)["folders"]
        return entry  # type: ignore[no-any-return]

    wait_until(lambda: status()["in_sync"] == 5, 30, "status: 5 in sync")
    synced_at = status()["last_sync_at"]
    shutil.rmtree(folder)
    daemon.wait_event("sync.paused", timeout=30)
    away = wait_until(lambda: (s := status())["state"] == "unavailable" and s, 30,
                      "status: unavailable")
    assert (away["in_sync"], away["last_sync_at"]) == (5, synced_at)
    assert "does not exist" in away["reason"]
    assert daemon.stop() == 0
