"""Issue 4, "SIGHUP: reload the config; folders added **or removed** take effect without a
restart". The e2e suite covers an added folder and a refused config; this covers removal:
after the reload, a file written into the removed folder is never uploaded, while the kept
folder goes on syncing (which also shows the daemon had every chance to see the file).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from plane_sync.emulator import Emulator
from tests.e2e_daemon.conftest import DaemonFactory, attached_names, folder_entry, wait_until


def test_sighup_with_a_removed_folder_stops_syncing_it(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    first, second = emu.work_items[0], emu.work_items[1]
    kept, removed = tmp_path / "kept", tmp_path / "removed"
    kept.mkdir()
    removed.mkdir()
    (kept / "k1.txt").write_text("k1\n")
    (removed / "r1.txt").write_text("r1\n")
    both = [folder_entry(kept, first["identifier"]), folder_entry(removed, second["identifier"])]
    daemon = daemon_factory(both)
    daemon.start()
    wait_until(lambda: attached_names(emu, first["id"]) == ["k1.txt"]
               and attached_names(emu, second["id"]) == ["r1.txt"], 30, "both folders synced")

    daemon.write_config(daemon_factory.config(both[:1]))
    daemon.signal(signal.SIGHUP)
    reloaded = daemon.wait_event("config.reloaded")
    assert reloaded["removed"] == [str(removed)]

    (removed / "r2.txt").write_text("r2 must stay local\n")
    time.sleep(1.0)  # settle is 0.3 s: a watcher still armed would have queued it by now
    (kept / "k2.txt").write_text("k2\n")
    wait_until(lambda: attached_names(emu, first["id"]) == ["k1.txt", "k2.txt"], 30,
               "the kept folder still syncs")
    daemon.signal(signal.SIGHUP)  # a reload rescans every remaining folder once more
    daemon.wait_event("config.reloaded", where=lambda e: e.get("removed") == [])
    (kept / "k3.txt").write_text("k3\n")
    wait_until(lambda: "k3.txt" in attached_names(emu, first["id"]), 30, "k3 attached")
    assert daemon.stop() == 0
    assert attached_names(emu, second["id"]) == ["r1.txt"]
    # ...and `status` forgets it rather than showing its last state for ever.
    out = subprocess.run([sys.executable, "-m", "plane_sync", "status", "-c",
                          str(daemon.config_path), "--json"], capture_output=True, text=True,
                         timeout=60, check=True)
    assert [f["path"] for f in json.loads(out.stdout)["folders"]] == [str(kept)]
    assert [e["path"] for e in daemon.uploads() if e["work_item"] == second["identifier"]] \
        == ["r1.txt"]
