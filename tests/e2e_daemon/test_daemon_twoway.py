"""direction: both in the daemon: attachments come down without any local event, and two
daemons on one work item converge under churn and kill -9 with nothing lost."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path, upload_and_complete

from .conftest import DaemonFactory, DaemonProcess, attached, folder_entry, wait_until


def _daemon(factory: DaemonFactory, folder: Path, item: dict[str, Any],
            state: Path) -> DaemonProcess:
    daemon = factory([folder_entry(folder, item["identifier"], direction="both")],
                     poll_interval="1s")
    config = factory.config([folder_entry(folder, item["identifier"], direction="both")],
                            poll_interval="1s")
    config["state_dir"] = str(state)
    daemon.write_config(config)
    return daemon


def test_attachment_uploaded_through_the_api_appears_in_the_folder(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    daemon = _daemon(daemon_factory, folder, item, tmp_path / "state").start()
    daemon.wait_event("daemon.initial_sync_done", timeout=30)
    body = os.urandom(200_000)
    with api(emu) as client:
        upload_and_complete(client, attachments_path(emu, item["id"]), body, name="drop.bin")
    # Bound: settle (0.3 s) + poll_interval (1 s) + a pass; generous so it catches a hang only.
    wait_until(lambda: (folder / "drop.bin").exists(), 30, "drop.bin in the folder")
    assert (folder / "drop.bin").read_bytes() == body
    daemon.wait_event("file.downloaded")
    time.sleep(3)  # several passes: nothing may go back up
    assert len(attached(emu, item["id"])) == 1
    assert daemon.uploads() == []
    assert daemon.stop() == 0


def _everything(*roots: Path) -> set[bytes]:
    found: set[bytes] = set()
    for root in roots:
        if root.exists():
            found |= {p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_two_daemons_under_churn_and_kill_9_converge_with_nothing_lost(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    rng = random.Random(11)
    sides = {name: tmp_path / name for name in ("a", "b")}
    for folder in sides.values():
        folder.mkdir()
    daemons = {name: _daemon(daemon_factory, folder, item, tmp_path / f"{name}-state").start()
               for name, folder in sides.items()}
    for daemon in daemons.values():
        daemon.wait_event("daemon.initial_sync_done", timeout=30)
    last_written: dict[tuple[str, str], bytes] = {}  # the user's own last version per side
    for round_ in range(24):
        name = rng.choice(["a", "b"])
        folder = sides[name]
        existing = sorted(p.name for p in folder.iterdir()
                          if p.is_file() and not p.name.startswith("."))
        if existing and rng.random() < 0.5:
            path = rng.choice(existing)
        else:
            path = f"{name}{round_:02d}.txt"
        body = f"{path} round {round_} on {name} {rng.random()}\n".encode() * rng.randint(1, 50)
        (folder / path).write_bytes(body)
        last_written[(name, path)] = body
        if round_ % 6 == 5:
            victim = daemons[rng.choice(["a", "b"])]
            victim.kill()  # SIGKILL, mid-whatever
            victim.start()
        time.sleep(rng.uniform(0.05, 0.6))

    def converged() -> bool:
        a, b = _files(sides["a"]), _files(sides["b"])
        rows = attached(emu, item["id"])
        return a == b and len(rows) == len(a) == len({r["attributes"]["name"] for r in rows})

    wait_until(converged, 120, "both folders and the work item agree", interval=0.5)
    stored = {emu.stored_object(r["asset"]) for r in attached(emu, item["id"])}
    somewhere = _everything(sides["a"], sides["b"], tmp_path / "a-state" / "trash",
                            tmp_path / "b-state" / "trash") | {s for s in stored if s}
    lost = [key for key, body in last_written.items() if body not in somewhere]
    assert lost == []
    for folder in sides.values():
        assert not [p for p in folder.rglob(".plane-sync-*")]  # no temp file left behind
    for daemon in daemons.values():
        assert daemon.stop() == 0
