"""Issue 2, "Done when": no API key appears in any log or output (a test greps for it).

The client-level tests (tests/test_plane_secrets.py) cover the library; this one greps what
the commands a user runs produce, at debug level and in both log formats, successes and
failures alike: ``sync`` (human, JSON, dry run), ``status``, ``check``, the daemon's log, and
every file the state directory holds (SQLite database, WAL, lock).
"""

from __future__ import annotations

import signal
from pathlib import Path

from plane_sync.emulator import Emulator
from tests.e2e_daemon.conftest import DaemonFactory, attached_names, folder_entry, wait_until
from tests.e2e_sync.conftest import Run, World, make_files


def secret_parts(key: str) -> list[str]:
    # The whole key and its random part (a log could drop the "plane_api_" prefix).
    return [key, key.removeprefix("plane_api_")]


def assert_nowhere(key: str, texts: dict[str, str]) -> None:
    for where, text in texts.items():
        for part in secret_parts(key):
            assert part not in text, f"the API key appears in {where}"


def state_files(state_dir: Path) -> dict[str, str]:
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert files, "the state directory holds files"
    return {str(p): p.read_bytes().decode("latin-1") for p in files}


def test_cli_output_logs_and_state_never_hold_the_key(world: World) -> None:
    make_files(world.folder, 3)
    (world.folder / "empty.txt").write_bytes(b"")
    world.write_config()
    runs: list[Run] = []
    debug = ("--log-level", "debug")
    runs.append(world.cli("sync", "--dry-run", *debug, "--log-format", "console"))
    runs.append(world.cli("sync", "--json", *debug, "--log-format", "json"))
    (world.folder / "more.txt").write_text("more\n")
    world.emu.faults.set(expire_policies=True)  # a failure: errors carry their context
    runs.append(world.cli("sync", *debug, "--log-format", "console"))
    world.emu.faults.clear()
    runs.append(world.cli("status", *debug))
    runs.append(world.cli("status", "--json", *debug))
    runs.append(world.cli("check", *debug, "--log-format", "json"))
    assert [r.code for r in runs] == [0, 0, 1, 0, 0, 0], "\n".join(map(str, runs))
    assert any("plane.request" in r.stderr for r in runs)  # debug logs were really on
    texts = {f"{' '.join(r.args)} ({stream})": text for r in runs
             for stream, text in (("stdout", r.stdout), ("stderr", r.stderr))}
    assert_nowhere(world.api_key, texts)
    assert_nowhere(world.api_key, state_files(world.state_dir))


def test_daemon_log_and_state_never_hold_the_key(emu: Emulator, daemon_factory: DaemonFactory,
                                                 tmp_path: Path) -> None:
    item = emu.work_items[0]
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    daemon = daemon_factory([folder_entry(folder, item["identifier"])])
    daemon.start("--log-level", "debug")
    wait_until(lambda: attached_names(emu, item["id"]) == ["a.txt"], 30, "a.txt attached")
    emu.faults.set(error_rate=1.0, only=["POST"])  # Plane trouble: the daemon logs errors
    (folder / "b.txt").write_text("b\n")
    daemon.wait_event("plane.trouble", timeout=30)
    emu.faults.clear()
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reloaded")
    assert daemon.stop() == 0
    assert daemon.events("plane.request"), "debug logs were really on"
    assert_nowhere(emu.api_key, {"daemon stderr": daemon.stderr(),
                                 "daemon stdout": daemon.stdout()})
    assert_nowhere(emu.api_key, state_files(tmp_path / "state"))
