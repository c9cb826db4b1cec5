"""No config content can stop a running daemon, and no file name can take over its log.

``plane-sync run`` as a subprocess against the emulator: hostile config files, one after
the other, each sent with SIGHUP and refused while the daemon keeps syncing; then a good one
that takes effect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from plane_sync.emulator import Emulator

from .conftest import REPO, DaemonFactory, DaemonProcess, attached_names, folder_entry, wait_until

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _replace_with(daemon: DaemonProcess, make: Callable[[Path], None]) -> None:
    """Put new content in the config's place in one rename, as editors do."""
    tmp = daemon.config_path.with_name("incoming")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    make(tmp)
    os.replace(tmp, daemon.config_path)


def hostile_contents(good: dict[str, Any], key: str) -> dict[str, Callable[[Path], None]]:
    text = yaml.safe_dump(good, sort_keys=False, width=1000)

    def write(content: str | bytes) -> Callable[[Path], None]:
        data = content.encode() if isinstance(content, str) else content
        return lambda path: path.write_bytes(data)

    laughs = "l0: &l0 [lol]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    return {
        "tagged int": write(text.replace("settle: 0.3", "settle: !!int abc")),
        "tagged key": write(text.replace(f"api_key: {key}", f"api_key: !!int {key}")),
        "bad timestamp": write(text.replace("settle: 0.3", "settle: !!timestamp 2020-13-45")),
        "python object": write(text + "x: !!python/object/apply:os.system ['touch pwned']\n"),
        "huge poll interval": write(text.replace("settle: 0.3", "poll_interval: 200000d")),
        "huge timeout": write(text.replace("timeout: 10s", "timeout: 200000d")),
        "broken url": write(text.replace(good["plane"]["url"], "'http://[::1'")),
        "billion laughs": write(laughs + text),
        "deep nesting": write("folders: " + "[" * 50_000 + "]" * 50_000 + "\n"),
        "not utf-8": write(b"plane:\n  url: \xff\xfe\n"),
        "empty": write(""),
        "huge": write(text + "#" * (2 * 1024 * 1024) + "\n"),
        "binary": write(bytes(range(256)) * 64),
        "a fifo": lambda path: os.mkfifo(path),
        "a dangling symlink": lambda path: path.symlink_to(path.parent / "nowhere"),
    }


def test_no_file_content_stops_a_running_daemon(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    first, second = emu.work_items[0], emu.work_items[1]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "before.txt").write_text("before")
    (b / "b.txt").write_text("b")
    daemon = daemon_factory([folder_entry(a, first["identifier"])])
    daemon.start()
    wait_until(lambda: attached_names(emu, first["id"]) == ["before.txt"], 30, "a synced")
    good = daemon_factory.config([folder_entry(a, first["identifier"]),
                                  folder_entry(b, second["identifier"])])
    contents = hostile_contents(good, emu.api_key)
    for number, (name, make) in enumerate(contents.items(), start=1):
        _replace_with(daemon, make)
        daemon.signal(signal.SIGHUP)
        wait_until(lambda n=number: len(daemon.events("config.reload_refused")) >= n, 30,
                   f"reload of {name!r} refused")
        daemon.assert_running()
    refused = daemon.events("config.reload_refused")
    assert len(refused) == len(contents)
    assert all(event.get("problems") or event.get("error") for event in refused)
    assert not (REPO / "pwned").exists() and not (tmp_path / "pwned").exists()
    # Still the old configuration, still syncing.
    (a / "during.txt").write_text("during")
    wait_until(lambda: "during.txt" in attached_names(emu, first["id"]), 30,
               "the old configuration still syncing after every refusal")
    assert attached_names(emu, second["id"]) == []
    daemon.write_config(good)
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reloaded")
    wait_until(lambda: attached_names(emu, second["id"]) == ["b.txt"], 30,
               "the good configuration took effect")
    stderr = daemon.stderr()
    assert emu.api_key not in stderr
    assert "Traceback" not in stderr
    assert daemon.stop() == 0


def test_status_shows_a_refused_reload_until_a_good_one(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    daemon = daemon_factory([folder_entry(a, emu.work_items[0]["identifier"])])
    good = daemon_factory.config([folder_entry(a, emu.work_items[0]["identifier"])])
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done")
    status_config = tmp_path / "status.yaml"  # status reads the same state directory
    status_config.write_text(json.dumps(good), encoding="utf-8")
    status_config.chmod(0o600)

    def status() -> dict[str, Any]:
        run = subprocess.run([sys.executable, "-m", "plane_sync", "status", "--json", "-c",
                              str(status_config)], capture_output=True, text=True, cwd=REPO,
                             env=daemon.env, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        result: dict[str, Any] = json.loads(run.stdout)
        return result

    daemon.config_path.write_text("plane: {url: !!int abc}\n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reload_refused")
    notes = status()["daemon"]["notes"]
    assert [n["topic"] for n in notes] == ["config"]
    assert "the tag !!int is not accepted" in notes[0]["message"]
    daemon.write_config(good)
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reloaded")
    assert status()["daemon"]["notes"] == []
    assert daemon.stop() == 0


def test_daemon_logs_in_either_format_carry_no_escape_from_a_file_name(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    names = [b"clear\x1b[2J.txt", b"forged\n{\"event\": \"fake\"}.txt",
             "rtl\u202eexe.txt".encode(), b"empty\x1b]0;t\x07.txt", b"bad\xff.txt"]
    for name in names:
        with open(os.path.join(os.fsencode(folder), name), "wb") as out:
            out.write(b"" if name.startswith(b"empty") else b"x" + name)
    for item, log_format in zip(emu.work_items, ("json", "console"), strict=False):
        # A work item each: both runs upload, so both logs name every file.
        daemon = daemon_factory([folder_entry(folder, item["identifier"])])
        daemon.start("--log-format", log_format, "--log-level", "debug")
        daemon.wait_event("daemon.initial_sync_done") if log_format == "json" else \
            wait_until(lambda d=daemon: "daemon.initial_sync_done" in d.stderr(), 30,
                       "initial sync (console log)")
        assert daemon.stop() == 0
        raw = daemon.stderr_path.read_bytes() + daemon.stdout_path.read_bytes()
        assert b"\x1b" not in raw, log_format
        text = raw.decode("utf-8", "replace")
        assert not set(text) & set(BIDI), log_format
        assert "\n{\"event\": \"fake\"}" not in text, log_format
        assert "upload.done" in text and "clear\\" in text
        uploaded = attached_names(emu, item["id"])
        assert len(uploaded) == 3 and not set("".join(uploaded)) & set(BIDI)
