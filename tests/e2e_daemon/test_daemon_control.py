"""Signals, reloads, sd_notify, the API key and Plane trouble, against the daemon subprocess."""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator

from .conftest import REPO, DaemonFactory, attached_names, folder_entry, wait_until

# Linux's SO_TIMESTAMP (the socket module does not export it): datagrams stamped on arrival.
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)


def _files(folder: Path, count: int, prefix: str = "f") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}{i:02d}.txt" for i in range(count)]
    for name in names:
        (folder / name).write_text(f"content of {name}\n")
    return names


def test_sighup_adds_a_folder_and_refuses_an_invalid_config(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    first, second = emu.work_items[0], emu.work_items[1]
    a, b = tmp_path / "a", tmp_path / "b"
    a_names = _files(a, 2, "a")
    b_names = _files(b, 2, "b")
    daemon = daemon_factory([folder_entry(a, first["identifier"])])
    daemon.start()
    wait_until(lambda: attached_names(emu, first["id"]) == a_names, 30, "folder a synced")

    config = daemon_factory.config([folder_entry(a, first["identifier"]),
                                    folder_entry(b, second["identifier"])])
    daemon.write_config(config)
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reloaded")
    wait_until(lambda: attached_names(emu, second["id"]) == b_names, 30, "added folder synced")

    broken = dict(config, folders=[{"path": str(a), "work_item": "not a work item"}])
    daemon.write_config(broken)
    daemon.signal(signal.SIGHUP)
    refused = daemon.wait_event("config.reload_refused")
    assert any("work_item" in p for p in refused["problems"])
    # The old configuration (both folders) keeps running.
    (a / "later-a.txt").write_text("a")
    (b / "later-b.txt").write_text("b")
    wait_until(lambda: "later-a.txt" in attached_names(emu, first["id"])
               and "later-b.txt" in attached_names(emu, second["id"]), 30,
               "both folders still synced after the refused reload")
    assert daemon.stop() == 0


def test_sigterm_during_uploads_exits_0_and_a_restart_completes_the_rest(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    names = _files(folder, 12)
    emu.faults.set(delay=0.3)  # every API call takes 0.3 s: uploads are in flight a while
    daemon = daemon_factory([folder_entry(folder, item["identifier"])])
    daemon.start()
    daemon.wait_event("upload.done", timeout=60, )
    status = _status(daemon.config_path)
    assert status["daemon"]["running"] is True
    assert status["daemon"]["activity"].startswith("syncing PROJ-1")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=45) == 0  # the deadline is 30 s
    assert daemon.events("daemon.stopped")  # a clean stop, not the deadline's hard exit
    assert _status(daemon.config_path)["daemon"]["running"] is False
    done_first = {e["path"] for e in daemon.uploads()}
    assert 0 < len(done_first) < len(names)  # it stopped part-way

    emu.faults.clear()
    daemon.start()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 30, "every file attached")
    assert daemon.stop() == 0
    # Exactly once: nothing uploaded twice across both runs, no leftover pending rows.
    assert sorted(e["path"] for e in daemon.uploads(all_runs=True)) == names
    everything = emu.attachments(item["id"], include_pending=True, include_deleted=True)
    assert sorted(r["attributes"]["name"] for r in everything
                  if r["deleted_at"] is None) == names


def test_sigterm_while_waiting_on_the_rate_limit_stops_at_once_and_restart_finishes(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    # With 4 requests a minute the daemon soon sits in the limiter for most of a minute: a
    # stop must cut that wait short, not run into the 30 s deadline's hard exit.
    folder = tmp_path / "paced"
    names = _files(folder, 6)
    daemon = daemon_factory([folder_entry(folder, item["identifier"])])
    config = daemon_factory.config([folder_entry(folder, item["identifier"])])
    config["plane"]["rate_limit"] = "4/minute"
    daemon.write_config(config)
    daemon.start()
    daemon.wait_event("upload.done", timeout=60)  # the 4th request completes the first file
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=45) == 0
    assert not daemon.events("daemon.deadline")  # stopped by itself, not cut off
    assert daemon.events("sync.interrupted") and daemon.events("daemon.stopped")

    config["plane"]["rate_limit"] = "100000/minute"
    daemon.write_config(config)
    daemon.start()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 30, "every file attached")
    assert daemon.stop() == 0
    everything = emu.attachments(item["id"], include_pending=True, include_deleted=True)
    assert sorted(r["attributes"]["name"] for r in everything) == names


def _status(config_path: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "plane_sync", "status", "-c", str(config_path),
                          "--json"], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_sd_notify_ready_status_watchdog_stopping_in_order(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "notified"
    _files(folder, 2)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    messages: list[str] = []
    ready_at: list[float] = []
    done = threading.Event()

    # The kernel stamps each datagram as it arrives: no thread scheduling in the figure.
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)

    def receive() -> None:
        while not done.is_set():
            try:
                data, ancillary, _, _ = sock.recvmsg(4096, 256)
            except TimeoutError:
                continue
            lines = data.decode().splitlines()
            if "READY=1" in lines and not ready_at:
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                        seconds, micros = struct.unpack("ll", payload[:16])
                        ready_at.append(seconds + micros / 1e6)
            messages.extend(lines)

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    try:
        daemon = daemon_factory([folder_entry(folder, item["identifier"])],
                                env={"NOTIFY_SOCKET": str(sock_path),
                                     "WATCHDOG_USEC": "400000"})
        daemon.start()
        wait_until(lambda: attached_names(emu, item["id"]) == ["f00.txt", "f01.txt"], 30,
                   "files attached")
        wait_until(lambda: messages.count("WATCHDOG=1") >= 3, 30, "watchdog pings")
        assert daemon.stop() == 0
        wait_until(lambda: "STOPPING=1" in messages, 10, "STOPPING=1")
    finally:
        done.set()
        receiver.join()
        sock.close()
    ready = messages.index("READY=1")
    stopping = messages.index("STOPPING=1")
    # READY once the watchers are up, before the catch-up pass asks Plane anything.
    first_list = min(r.time for r in emu.requests()
                     if r.method == "GET" and r.path.endswith("/attachments/"))
    assert ready_at[0] < first_list
    statuses = [i for i, m in enumerate(messages) if m.startswith("STATUS=")]
    assert any(ready < i < stopping for i in statuses), messages
    assert "STATUS=idle, watching" in messages
    watchdogs = [i for i, m in enumerate(messages) if m == "WATCHDOG=1"]
    assert watchdogs and all(ready < i < stopping for i in watchdogs), messages
    assert stopping == len(messages) - 1  # the last word


def test_wrong_api_key_exits_3_with_a_clear_message(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "keyed"
    _files(folder, 1)
    wrong = "plane_api_" + "0" * 32
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], api_key=wrong)
    daemon.start()
    assert daemon.wait(timeout=60) == 3
    stderr = daemon.stderr()
    message = [line for line in stderr.splitlines() if line.startswith("plane-sync: ")]
    assert message and "key" in message[-1].lower(), stderr
    assert wrong not in stderr and wrong not in daemon.stdout()
    assert attached_names(emu, item["id"]) == []


def test_plane_errors_back_off_and_everything_is_uploaded_eventually(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "flaky"
    names = _files(folder, 10)
    emu.faults.set(error_rate=1.0)  # down: the client's own retries run out
    daemon = daemon_factory([folder_entry(folder, item["identifier"])])
    daemon.start()
    daemon.wait_event("folder.unresolved", timeout=60)  # the work item cannot be looked up
    emu.faults.set(error_rate=1.0, only=["POST"])  # found, but creating attachments fails
    trouble = daemon.wait_event("plane.trouble", timeout=60)
    assert trouble["retry_in"] >= 5
    emu.faults.set(error_rate=0.5, seed=3)  # then flaky for a while
    time.sleep(3.0)
    daemon.assert_running()
    emu.faults.clear()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 60, "every file attached")
    daemon.assert_running()
    assert daemon.stop() == 0
    assert sorted(e["path"] for e in daemon.uploads()) == names
    assert emu.api_key not in daemon.stderr()


def test_demo_prints_uploads_takes_a_dropped_file_and_stops_on_sigint(
        tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "demo", "--folder",
                                 str(folder)], cwd=REPO, stdout=out, stderr=err,
                                env={**_plain_env(), "PYTHONUNBUFFERED": "1"})
    try:
        def shown(text: str) -> bool:
            assert proc.poll() is None, err_path.read_text()
            return text in out_path.read_text()

        wait_until(lambda: shown("uploaded  README.txt"), 30, "the sample files uploaded")
        (folder / "dropped.txt").write_text("dropped in\n")
        wait_until(lambda: shown("uploaded  dropped.txt"), 30, "the dropped file uploaded")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    output = out_path.read_text()
    assert "has 4 attachment(s)" in output and "dropped.txt" in output.split("has 4")[1]


def _plain_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}


def test_bad_config_exits_2_listing_the_problems(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    daemon = daemon_factory([{"path": str(tmp_path / "x"), "work_item": "not a work item"}],
                            settle="soon")
    daemon.start()
    assert daemon.wait(timeout=60) == 2
    stderr = daemon.stderr()
    assert "work_item" in stderr and "settle" in stderr, stderr
    assert emu.api_key not in stderr
