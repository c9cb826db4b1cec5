"""Seeing and steering the running daemon: ``status``, ``pause``, ``resume``, ``rescan`` and
``sync --now`` over the real control socket, the metrics and /healthz over real HTTP on
loopback; the daemon is a subprocess, the CLI another, Plane the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from plane_sync.emulator import Emulator

from .conftest import REPO, DaemonFactory, DaemonProcess, attached_names, folder_entry, wait_until


def _files(folder: Path, count: int, *, size: int = 1000, prefix: str = "f") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}{i:02d}.bin" for i in range(count)]
    for name in names:
        (folder / name).write_bytes(os.urandom(size))
    return names


def keyless(daemon: DaemonProcess, factory: DaemonFactory, folders: list[dict[str, Any]],
            **defaults: Any) -> None:
    """The config takes the key from $PLANE_API_KEY, which only the daemon gets: the
    commands under test must do without it."""
    config = factory.config(folders, **defaults)
    config["plane"]["api_key"] = "${PLANE_API_KEY}"
    daemon.write_config(config)
    daemon.env["PLANE_API_KEY"] = factory.emu.api_key


def cli(daemon: DaemonProcess, *args: str,
        with_key: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in daemon.env.items() if with_key or k != "PLANE_API_KEY"}
    return subprocess.run([sys.executable, "-m", "plane_sync", *args, "-c",
                           str(daemon.config_path)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)


def status(daemon: DaemonProcess) -> dict[str, Any]:
    run = cli(daemon, "status", "--json")
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_status_shows_the_upload_in_flight_pause_stops_uploads_resume_starts_them(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    names = _files(folder, 40, size=200_000)
    # Each API call takes 0.5 s: an upload is in flight a while, and 40 of them outlast the
    # few commands this test runs before its pause even on a loaded machine.
    emu.faults.set(delay=0.5)
    entry = folder_entry(folder, item["identifier"])
    daemon = daemon_factory([entry])
    keyless(daemon, daemon_factory, [entry])
    daemon.start("--log-level", "debug")

    def uploading() -> dict[str, Any] | None:
        upload = status(daemon).get("live", {}).get("upload")
        return upload if upload else None

    upload = wait_until(uploading, 60, "status showing an upload in flight")
    assert upload["path"] in names and upload["label"] == item["identifier"]
    assert upload["size"] == 200_000 and 0 <= upload["done"] <= upload["size"]
    wait_until(lambda: "  uploading  f" in cli(daemon, "status").stdout, 60,
               "the human status naming the upload in flight")
    human = cli(daemon, "status").stdout
    assert "rate " in human and "requests used in the last 60s" in human

    paused = cli(daemon, "pause", str(folder))
    assert paused.returncode == 0, paused.stderr
    assert f"daemon paused: {folder}" in paused.stdout
    daemon.wait_event("folder.paused")

    def settled_after_pause() -> bool:
        live = status(daemon)["live"]
        return live["upload"] is None and not live["activity"].startswith("syncing")

    wait_until(settled_after_pause, 60, "the upload in flight finished, no new one started")
    done = len(daemon.uploads())
    assert done < len(names)  # it stopped part-way
    [record] = status(daemon)["folders"]  # what was not uploaded is not "in sync"
    assert (record["in_sync"], record["pending"]) == (done, len(names) - done)
    skipped = len(daemon.events("sync.pass_skipped"))
    (folder / "new.bin").write_bytes(b"new")  # the watcher asks for a pass: it is skipped
    wait_until(lambda: len(daemon.events("sync.pass_skipped")) > skipped, 30,
               "the pass of the paused folder skipped")
    assert len(daemon.uploads()) == done
    assert len(attached_names(emu, item["id"])) == done
    assert "PAUSED since" in cli(daemon, "status").stdout

    # The pause survives a restart and shows in status.
    assert daemon.stop() == 0
    daemon.start("--log-level", "debug")
    daemon.wait_event("sync.pass_skipped")
    assert daemon.wait_event("folder.paused")["folder"] == str(folder)
    assert "PAUSED since" in cli(daemon, "status").stdout
    assert daemon.uploads() == []

    emu.faults.clear()  # the rest need not be slow
    resumed = cli(daemon, "resume")
    assert resumed.returncode == 0 and f"daemon resumed: {folder}" in resumed.stdout
    wait_until(lambda: attached_names(emu, item["id"]) == sorted([*names, "new.bin"]), 90,
               "every file attached after resume")
    assert daemon.stop() == 0
    all_uploads = [e["path"] for e in daemon.uploads(all_runs=True)]
    assert sorted(all_uploads) == sorted([*names, "new.bin"])  # each once


def test_a_stopped_daemon_does_not_hang_status(daemon_factory: DaemonFactory,
                                               item: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "f"
    _files(folder, 2)
    daemon = daemon_factory([folder_entry(folder, item["identifier"])])
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done")
    daemon.signal(signal.SIGSTOP)  # the socket accepts (the kernel does), nobody answers
    try:
        run = cli(daemon, "status")
    finally:
        daemon.signal(signal.SIGCONT)
    assert run.returncode == 0, run.stderr
    assert "daemon: NOT ANSWERING" in run.stdout and "did not answer within" in run.stdout
    assert f"{item['identifier']}  {folder}" in run.stdout  # the database, as before
    assert daemon.stop() == 0


def test_rescan_and_sync_now_ask_the_daemon_instead_of_being_refused(
        emu: Emulator, daemon_factory: DaemonFactory, item: dict[str, Any],
        tmp_path: Path) -> None:
    folder = tmp_path / "quiet"
    names = _files(folder, 1)
    # Polled once an hour, rescanned every 10 minutes: only a rescan request finds new files.
    entry = folder_entry(folder, item["identifier"], watch="poll", poll_interval="1h")
    daemon = daemon_factory([entry])
    keyless(daemon, daemon_factory, [entry])
    daemon.start()
    wait_until(lambda: attached_names(emu, item["id"]) == names, 30, "first file attached")
    daemon.wait_event("daemon.initial_sync_done")

    plain = cli(daemon, "sync", with_key=True)
    assert plain.returncode == 2 and "plane-sync rescan" in plain.stderr

    (folder / "b.bin").write_bytes(b"b")
    asked = cli(daemon, "rescan", str(folder))
    assert asked.returncode == 0, asked.stderr
    assert f"daemon asked to rescan: {folder}" in asked.stdout
    wait_until(lambda: "b.bin" in attached_names(emu, item["id"]), 30, "b.bin after rescan")

    (folder / "c.bin").write_bytes(b"c")
    now = cli(daemon, "sync", "--now")
    assert now.returncode == 0, now.stderr
    assert "The daemon rescans every folder now" in now.stdout
    wait_until(lambda: "c.bin" in attached_names(emu, item["id"]), 30, "c.bin after sync --now")

    unknown = cli(daemon, "rescan", str(tmp_path / "elsewhere"))
    assert unknown.returncode == 2 and "is not a configured folder" in unknown.stderr
    assert daemon.stop() == 0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_health_over_loopback(emu: Emulator, daemon_factory: DaemonFactory,
                                          tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="the metrics extra (the test extra has it)")
    first, second = emu.work_items[0], emu.work_items[1]
    a, b = tmp_path / "a", tmp_path / "b"
    a_names = _files(a, 3)
    config_folders = [folder_entry(a, first["identifier"]),
                      folder_entry(b, second["identifier"])]  # b does not exist yet
    daemon = daemon_factory(config_folders)
    config = daemon_factory.config(config_folders)
    config["metrics"] = "127.0.0.1:0"  # a free port, named by metrics.listening
    daemon.write_config(config)
    daemon.start()
    base = daemon.wait_event("metrics.listening")["url"].removesuffix("/metrics")
    assert base.startswith("http://127.0.0.1:")
    wait_until(lambda: attached_names(emu, first["id"]) == a_names, 30, "folder a synced")

    code, body = _get(base + "/healthz")
    assert code == 503, body
    assert f"FAIL {b}: not available" in body and f"ok {a}" in body

    def uploads_counted() -> dict[Any, float] | None:
        samples = _samples(_get(base + "/metrics")[1])
        return samples if samples.get(("plane_sync_uploads_total", ())) == 3 else None

    samples = wait_until(uploads_counted, 30, "three uploads in the metrics")
    assert samples[("plane_sync_uploaded_bytes_total", ())] == 3000
    assert samples[("plane_sync_watch_mode", (("folder", str(a)), ("mode", "inotify")))] == 1
    assert samples[("plane_sync_paused", (("folder", str(a)),))] == 0
    assert samples[("plane_sync_failures_total", (("kind", "file"),))] == 0
    age = samples[("plane_sync_last_complete_pass_age_seconds",
                   (("folder", str(a)), ("work_item", first["identifier"])))]
    assert age >= 0
    assert ("plane_sync_rate_budget_limit", ()) in samples

    b.mkdir()  # the folder appears: it is synced, and then every folder is healthy
    (b / "late.txt").write_text("late")
    wait_until(lambda: _get(base + "/healthz")[0] == 200, 60, "healthz 200 once b synced")
    assert cli(daemon, "pause").returncode == 0  # a paused folder is not being synced
    code, body = _get(base + "/healthz")
    assert code == 503 and f"FAIL {a}: paused" in body
    assert daemon.stop() == 0


def test_lasting_conditions_are_said_once_when_they_start_and_once_when_they_end(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    second, third = emu.work_items[1], emu.work_items[2]
    tickets = tmp_path / "tickets"
    (tickets / "PROJ-1 a").mkdir(parents=True)
    (tickets / "PROJ-1 a" / "a.txt").write_text("a")
    (tickets / "notes").mkdir()  # named after no work item: unmapped
    (tickets / "notes" / "n.txt").write_text("n")
    share = tmp_path / "share"
    share_names = _files(share, 4)
    daemon = daemon_factory([{"path": str(tickets), "work_items": "subfolders"},
                             folder_entry(share, third["identifier"], on_delete="delete")],
                            rescan_interval="0.3s")
    daemon.start("--log-level", "debug")
    wait_until(lambda: attached_names(emu, third["id"]) == share_names, 30, "share synced")
    for name in share_names[1:]:  # 3 of 4 gone at once: looks unmounted, held
        (share / name).unlink()

    def passes_over(folder: Path) -> int:
        return sum(1 for e in daemon.events("sync.pass") if e["folder"] == str(folder))

    held_from = passes_over(share)
    wait_until(lambda: passes_over(share) >= held_from + 5, 60, "five passes of the share")
    wait_until(lambda: passes_over(tickets / "PROJ-1 a") >= 5, 60, "five rescans of tickets")
    assert [e["path"] for e in daemon.events("folder.unmapped")] == [str(tickets / "notes")]
    assert len(daemon.events("folder.hold")) == 1
    assert daemon.events("folder.hold_ended") == []

    (tickets / "notes").rename(tickets / "PROJ-2 notes")  # the fix: name it after one
    new = _files(share, 3, prefix="new")  # 3 of 7 gone: within the limit, so deleted
    daemon.wait_event("folder.unmapped_ended")
    daemon.wait_event("folder.hold_ended")
    wait_until(lambda: attached_names(emu, third["id"]) == sorted([share_names[0], *new]), 30,
               "the deletions carried out once the hold ended")
    wait_until(lambda: attached_names(emu, second["id"]) == ["n.txt"], 30,
               "the renamed subfolder synced to its work item")
    ended_from = passes_over(share)
    wait_until(lambda: passes_over(share) >= ended_from + 3, 60, "three more passes")
    assert len(daemon.events("folder.unmapped")) == 1
    assert len(daemon.events("folder.unmapped_ended")) == 1
    assert len(daemon.events("folder.hold")) == len(daemon.events("folder.hold_ended")) == 1
    assert daemon.stop() == 0
