"""Lasting conditions of the running daemon reach ``plane-sync status``: a watcher thread that
died and was restarted, a config reload that was refused (until one succeeds)."""

from __future__ import annotations

import argparse
import io
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

from plane_sync.commands import status
from plane_sync.config.load import load_config
from plane_sync.emulator import Emulator
from plane_sync.local.poller import FolderPoller
from plane_sync.service.activity import Activity
from plane_sync.service.daemon import Daemon
from plane_sync.service.notes import Notes, read_notes
from plane_sync.service.reload import REFUSED, read_new_config
from plane_sync.service.sdnotify import Notifier

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emulator:
        yield emulator


def write_config(path: Path, emu: Emulator, folder: Path, **settings: object) -> Path:
    path.write_text(yaml.safe_dump({
        "plane": {"url": emu.url, "api_key": emu.api_key, "workspace": emu.workspace,
                  "rate_limit": "100000/1s"},
        "state_dir": str(path.parent / "state"),
        "folders": [{"path": str(folder), "work_item": "PROJ-1", "settle": 0,
                     **settings}],
    }), encoding="utf-8")
    path.chmod(0o600)
    return path


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (condition() if callable(condition) else condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def human_status(config_path: Path) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        status.run(argparse.Namespace(json=False, config=str(config_path)))
    return out.getvalue()


def test_a_dead_poll_thread_is_restarted_and_shown_in_status(
        emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    config_path = write_config(tmp_path / "config.yaml", emu, folder, watch="poll",
                               poll_interval=0.1)
    config = load_config(config_path)
    # Nothing real kills a poll thread once the config bounds its interval: the test does,
    # from inside the thread, on its next pass after the baseline.
    kill = threading.Event()
    real_poll_once = FolderPoller.poll_once

    def poll_once(self: FolderPoller) -> list[str]:
        if kill.is_set():
            kill.clear()
            raise SystemExit("killed by the test")
        return real_poll_once(self)

    monkeypatch.setattr(FolderPoller, "poll_once", poll_once)
    daemon = Daemon(config, notifier=Notifier(None))
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: "idle" in human_status(config_path), "the daemon to be idle")
        kill.set()
        wait_for(lambda: read_notes(config.state_dir), "a note about the restart")
        shown = human_status(config_path)
        assert f"note: the poll thread of {folder} died (SystemExit: killed by the test) " \
               "and was restarted (once so far)" in shown, shown
        # Restarted for real: a file written now is uploaded.
        (folder / "after.txt").write_text("after the restart")
        wait_for(lambda: [a["attributes"]["name"] for a in
                          emu.attachments(emu.work_items[0]["id"])] == ["after.txt"],
                 "the file written after the restart to be uploaded")
    finally:
        daemon.request_stop()
        runner.join(60)
    assert not runner.is_alive()


def test_a_refused_reload_is_noted_until_one_succeeds(emu: Emulator, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    config_path = write_config(tmp_path / "config.yaml", emu, folder)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    notes = Notes(state_dir)
    activity = Activity(Notifier(None))
    good = config_path.read_text(encoding="utf-8")
    current = load_config(config_path)
    config_path.write_text(good.replace("settle: 0", "settle: !!int abc"), encoding="utf-8")
    assert read_new_config(current, activity, notes) is None
    assert activity.current == REFUSED
    [note] = read_notes(state_dir)
    assert note["message"].startswith(f"{REFUSED}: {config_path}: line ")
    assert "the tag !!int is not accepted" in note["message"]
    config_path.write_text(good, encoding="utf-8")
    assert read_new_config(current, activity, notes) is not None
    assert read_notes(state_dir) == []


def test_unreadable_notes_are_no_notes(tmp_path: Path) -> None:
    (tmp_path / "daemon-notes.json").write_text("{not json", encoding="utf-8")
    assert read_notes(tmp_path) == []
    (tmp_path / "daemon-notes.json").write_text('[{"message": "m", "since": "x"}, 3]',
                                                encoding="utf-8")
    assert read_notes(tmp_path) == [{"topic": "", "message": "m", "since": None}]
