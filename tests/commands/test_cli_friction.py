"""The rough edges a new user hit (issue 12), each as the user meets it: ``python -m
plane_sync`` as a subprocess, against the Plane emulator on loopback where Plane is needed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from plane_sync.emulator import Emulator
from plane_sync.service.runtime import StateLock

from .test_cli_usability import REPO, TIMEOUT, assert_clean, cli, env_for, write_config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def folder(home: Path) -> Path:
    path = home / "PROJ-1"
    path.mkdir()
    (path / "a.txt").write_text("a\n", encoding="utf-8")
    return path


def one_folder_config(home: Path, emu: Emulator, folder: Path, **extra: object) -> Path:
    config = write_config(home / "c.yaml", emu, [{"path": str(folder), "work_item": "PROJ-1",
                                                  **extra}])  # type: ignore[dict-item]
    return config


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_c_is_accepted_before_and_after_the_command(home: Path, folder: Path,
                                                    emulator: Emulator, where: str) -> None:
    config = one_folder_config(home, emulator, folder)
    args = (["-c", str(config), "check"] if where == "before"
            else ["check", "-c", str(config)])
    run = cli(home, *args, PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1].startswith("OK: 1 folder(s)")


def test_bare_plane_sync_prints_the_help(home: Path) -> None:
    run = cli(home)
    assert run.returncode == 0
    assert run.stdout.startswith("usage: plane-sync")
    assert "first steps:" in run.stdout and run.stderr == ""


def test_an_unknown_option_shows_the_usage_of_its_command(home: Path) -> None:
    run = cli(home, "check", "--bogus")
    assert run.returncode == 2
    assert run.stderr.startswith("usage: plane-sync check"), run.stderr
    assert "plane-sync check: error: unrecognized arguments: --bogus" in run.stderr


def _exit_block(help_text: str) -> dict[str, str]:
    block = help_text.split("exit status:", 1)[1]
    return {m[0]: m[1] for m in re.findall(r"^\s+(\d+)\s+(.+)$", block, re.M)}


def test_run_help_readme_and_behaviour_agree_on_the_exit_codes(home: Path) -> None:
    codes = _exit_block(cli(home, "run", "--help").stdout)
    assert "SIGTERM" in codes["0"] and "Ctrl-C" in codes["130"], codes
    assert "API key rejected" in codes["3"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "`run` stopped by SIGTERM exits 0" in readme
    assert "130 interrupted (Ctrl-C" in readme


def test_sync_help_has_its_own_exit_codes(home: Path) -> None:
    codes = _exit_block(cli(home, "sync", "--help").stdout)
    assert "--dry-run" in codes["0"] and "daemon holds the state directory" in codes["2"]
    assert "next sync does the rest" in codes["130"]


def test_emulator_help_has_no_rst_and_every_option_explained(home: Path) -> None:
    text = cli(home, "emulator", "--help").stdout
    assert "``" not in text
    options = text.split("options:", 1)[1]
    entries = re.split(r"\n  (?=-)", options)
    for entry in entries[1:]:
        flag, _, rest = entry.partition("  ")
        assert rest.strip() or "\n" in entry, f"no help for {flag!r}"


def test_ctrl_c_on_run_exits_130_as_its_help_says(home: Path, folder: Path,
                                                  emulator: Emulator) -> None:
    config = one_folder_config(home, emulator, folder)
    proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "run", "-c", str(config),
                             "--log-format", "json", "--log-level", "info"],
                            env=env_for(home, PLANE_API_KEY=emulator.api_key), cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the daemon says when its first pass is done
            if "daemon.initial_sync_done" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err


# -- sync and status ----------------------------------------------------------------------


def test_dry_run_works_beside_the_daemon_and_writes_nothing(home: Path, folder: Path,
                                                            emulator: Emulator) -> None:
    config = one_folder_config(home, emulator, folder)
    state = home / "state"
    with StateLock(state):  # what a running daemon holds
        run = cli(home, "sync", "--dry-run", "-c", str(config),
                  PLANE_API_KEY=emulator.api_key)
        assert run.returncode == 0, run.stderr
        assert "would upload" in run.stdout
        assert sorted(p.name for p in state.iterdir()) == ["lock"]  # no database made
        check = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
        assert check.stdout.splitlines()[-1].endswith("Next: plane-sync sync --dry-run")
    real = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert real.returncode == 0
    before = (state / "state.db").read_bytes()
    (folder / "b.txt").write_text("b\n", encoding="utf-8")
    with StateLock(state):
        again = cli(home, "sync", "--dry-run", "-c", str(config),
                    PLANE_API_KEY=emulator.api_key)
    assert again.returncode == 0 and "b.txt" in again.stdout
    assert (state / "state.db").read_bytes() == before  # not even a hash was stored


def test_a_deleted_file_under_keep_is_said_kept_once(home: Path, folder: Path,
                                                     emulator: Emulator) -> None:
    config = one_folder_config(home, emulator, folder, on_delete="keep")
    (folder / "b.txt").write_text("b\n", encoding="utf-8")
    assert cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key).returncode == 0
    (folder / "b.txt").unlink()
    first = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert first.returncode == 0, first.stderr
    kept = [line for line in first.stdout.splitlines() if "kept" in line.split()[:1]]
    assert kept == ["  kept         b.txt (file deleted; its attachment stays (on_delete: keep))"]
    second = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert second.returncode == 0
    assert not any(line.split()[:1] == ["kept"] for line in second.stdout.splitlines())


def test_an_unresolved_subfolder_says_to_rename_it(home: Path, emulator: Emulator) -> None:
    root = home / "tickets"
    (root / "PROJ-99 old").mkdir(parents=True)
    config = write_config(home / "c.yaml", emulator, [{"path": str(root),
                                                       "work_items": "subfolders"}])
    run = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 1
    row = next(line for line in run.stdout.splitlines() if "PROJ-99 old" in line)
    assert "UNRESOLVED: the subfolder name 'PROJ-99 old' says PROJ-99" in row
    assert "rename the folder" in row and "configuration" not in row


@pytest.mark.parametrize("state_dir", ["/proc/plane-sync-nope", "FILE/inside"])
def test_status_with_an_unusable_state_dir_is_an_error(home: Path, folder: Path,
                                                       emulator: Emulator,
                                                       state_dir: str) -> None:
    blocker = home / "a-file"
    blocker.write_text("", encoding="utf-8")
    state_dir = state_dir.replace("FILE", str(blocker))
    config = one_folder_config(home, emulator, folder)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["state_dir"] = state_dir
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = cli(home, "status", "-c", str(config))
    assert run.returncode == 2, run.stdout
    assert_clean(run)
    assert f"state_dir: cannot use {state_dir}" in run.stderr
    assert "no folder has been synced yet" not in run.stdout


def test_status_needs_no_api_key(home: Path, folder: Path, emulator: Emulator) -> None:
    config = one_folder_config(home, emulator, folder)  # api_key: ${PLANE_API_KEY}, unset
    run = cli(home, "status", "-c", str(config))
    assert run.returncode == 0, run.stderr
    assert "daemon: not running" in run.stdout


def test_the_demo_says_a_skipped_file_once_and_shows_no_log_lines(home: Path) -> None:
    demo_folder = home / "demo"
    demo_folder.mkdir()
    (demo_folder / "empty.txt").write_text("")  # Plane refuses empty files: skipped
    proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "demo", "--folder",
                             str(demo_folder)], env=env_for(home), cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen: list[str] = []

        def read_until(prefix: str, count: int) -> None:
            while sum(line.startswith(prefix) for line in seen) < count:
                line = proc.stdout.readline() if proc.stdout else ""
                assert line, seen
                seen.append(line)

        read_until("uploaded", 3)
        (demo_folder / "later.txt").write_text("later\n")  # another pass over the folder
        read_until("uploaded  later.txt", 1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = [*seen, *out.splitlines(keepends=True)]
    assert proc.returncode == 0, err
    assert sum(line.startswith("skipped   empty.txt") for line in lines) == 1, lines
    assert err == ""  # the daemon's log went to its file, named at the start
    assert not any(re.search(r"\[(info|warning|debug)\s*\]|^\{\"", line) for line in lines)
    log_line = next(line for line in lines if "The daemon's log:" in line)
    log_file = Path(log_line.rsplit("The daemon's log: ", 1)[1].strip().rstrip(")"))
    assert "upload.done" in log_file.read_text(encoding="utf-8")
