"""The daemon as a subprocess against the emulator: what lands in Plane, and how often."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator

from .conftest import DaemonFactory, attached, attached_names, folder_entry, wait_until


def test_slow_write_is_uploaded_once_complete(emu: Emulator, daemon_factory: DaemonFactory,
                                              item: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], settle=1.0)
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    content = os.urandom(50_000)
    with open(folder / "slow.bin", "wb") as f:
        for i in range(10):  # 5 s of writing, 0.5 s apart: longer than the settle time
            f.write(content[i * 5000:(i + 1) * 5000])
            f.flush()
            time.sleep(0.5)
    wait_until(lambda: attached(emu, item["id"]), 30, "slow.bin attached")
    time.sleep(1.5)  # give a wrong second upload the chance to show up
    rows = attached(emu, item["id"])
    assert [r["attributes"]["name"] for r in rows] == ["slow.bin"]
    assert emu.stored_object(rows[0]["asset"]) == content
    assert daemon.stop() == 0
    [done] = daemon.uploads()
    assert (done["path"], done["bytes"], done["work_item"]) == ("slow.bin", 50_000, "PROJ-1")
    assert done["folder"] == str(folder) and isinstance(done["ms"], int)
