"""What a new user meets: help texts, first-config mistakes, messages and exit codes.

Each test runs ``python -m plane_sync`` as a subprocess (as a user would), against the Plane
emulator on loopback where Plane is needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from plane_sync.emulator import Emulator
from plane_sync.service.runtime import StateLock

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 90.0


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PLANE_", "XDG_")) and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), TMPDIR=str(home), **extra)
    return env


def cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plane_sync", *args], env=env_for(home, **extra),
                          cwd=home, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def write_config(path: Path, emu: Emulator, folders: list[dict[str, str]], *,
                 workspace: str | None = None, rate_limit: str = "100000/1s") -> Path:
    path.write_text(yaml.safe_dump({
        "plane": {"url": emu.url, "api_key": "${PLANE_API_KEY}",
                  "workspace": workspace or emu.workspace, "rate_limit": rate_limit},
        "state_dir": str(path.parent / "state"),
        "defaults": {"settle": 0},
        "folders": folders,
    }), encoding="utf-8")
    return path


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


def assert_clean(run: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr


# -- help ---------------------------------------------------------------------------------


def test_main_help_gives_first_steps_and_exit_codes(home: Path) -> None:
    run = cli(home, "--help")
    assert run.returncode == 0
    for text in ("plane-sync demo", "config.example.yaml", "plane-sync check",
                 "sync --dry-run", "exit status:", "3  Plane unreachable"):
        assert text in run.stdout, run.stdout


@pytest.mark.parametrize("command", ["check", "sync", "status", "run", "demo"])
def test_every_command_help_says_what_its_exit_status_means(home: Path, command: str) -> None:
    run = cli(home, command, "--help")
    assert run.returncode == 0
    assert "exit status" in run.stdout, run.stdout


# -- finding and reading the config ------------------------------------------------------


def test_no_config_anywhere_says_where_to_put_one(home: Path) -> None:
    if Path("/etc/plane-sync/config.yaml").exists():
        pytest.skip("this machine has a system-wide config")
    run = cli(home, "sync")
    assert run.returncode == 2
    assert_clean(run)
    assert run.stderr.startswith("plane-sync: No configuration file:"), run.stderr
    assert f"to {home}/.config/plane-sync/config.yaml" in run.stderr
    assert "plane-sync demo" in run.stderr
    assert "Invalid" not in run.stderr  # nothing was found, so nothing is invalid


def test_a_directory_given_as_config_is_named_as_such(home: Path) -> None:
    run = cli(home, "check", "-c", str(home))
    assert run.returncode == 2
    assert run.stderr.strip() == (f"plane-sync: No configuration file: {home}: is a directory, "
                                  "not a config file (given by -c)")


def test_one_config_problem_is_one_line(home: Path, folder: Path,
                                        emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    run = cli(home, "check", "-c", str(config))  # PLANE_API_KEY is not set
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"plane-sync: Invalid configuration in {config}: plane.api_key: environment variable "
        "PLANE_API_KEY is not set"]


@pytest.mark.parametrize("state_dir", ["/proc/plane-sync-nope", "FILE/inside"])
def test_an_unusable_state_dir_is_a_config_error(home: Path, folder: Path, emulator: Emulator,
                                                 state_dir: str) -> None:
    blocker = home / "a-file"
    blocker.write_text("", encoding="utf-8")
    state_dir = state_dir.replace("FILE", str(blocker))
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["state_dir"] = state_dir
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 2, run.stderr
    assert_clean(run)
    assert f"state_dir: cannot use {state_dir}" in run.stderr


# -- check --------------------------------------------------------------------------------


def test_check_ok_ends_with_a_verdict_and_the_next_step(home: Path, folder: Path,
                                                        emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "proj-1"}])
    run = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "workspace acme (1 project(s): PROJ)" in lines[0]
    assert lines[-1] == "OK: 1 folder(s) map to work items. Next: plane-sync sync --dry-run"


def test_check_names_a_wrong_workspace(home: Path, folder: Path, emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}],
                          workspace="acmee")
    run = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 1
    assert_clean(run)
    assert "workspace 'acmee' does not exist or the key's user is not a member" in run.stdout
    assert "plane.workspace" in run.stdout
    assert len(run.stdout.splitlines()) == 1  # no row per folder repeating the same cause


def test_check_lists_the_projects_the_key_sees_for_an_unknown_project(
        home: Path, folder: Path, emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "OTHER-1"}])
    run = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 1
    row = next(line for line in run.stdout.splitlines() if line.startswith(str(folder)))
    assert "UNRESOLVED:" in row and "Projects the key's user sees: PROJ." in row
    assert run.stdout.splitlines()[-1].startswith("1 folder(s) cannot be synced")


def test_check_flags_a_folder_that_does_not_exist(home: Path, emulator: Emulator) -> None:
    missing = home / "not-there"
    config = write_config(home / "c.yaml", emulator, [{"path": str(missing),
                                                       "work_item": "PROJ-1"}])
    run = cli(home, "check", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 1
    row = next(line for line in run.stdout.splitlines() if line.startswith(str(missing)))
    assert row.split()[1:3] == ["PROJ-1", "MISSING:"]
    assert "does not exist" in row


# -- sync and status ----------------------------------------------------------------------


def test_sync_and_dry_run_end_with_a_totals_line(home: Path, folder: Path,
                                                 emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    dry = cli(home, "sync", "--dry-run", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == (
        "Dry run, nothing changed: 1 folder(s), 1 would upload, 0 would delete, 0 skipped, "
        "0 failed")
    real = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[-1] == (
        "Total: 1 folder(s), 1 uploaded, 0 deleted, 0 skipped, 0 failed")


def test_a_missing_folder_in_sync_is_counted_in_the_totals(home: Path,
                                                           emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(home / "gone"),
                                                       "work_item": "PROJ-1"}])
    run = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 1
    assert run.stdout.splitlines()[-1].endswith("1 folder(s) not synced (see above)")


def test_sync_while_another_holds_the_state_dir_exits_2(home: Path, folder: Path,
                                                        emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    with StateLock(home / "state"):  # what a running daemon holds
        run = cli(home, "sync", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 2
    assert_clean(run)
    assert f"process {os.getpid()} already uses the state directory" in run.stderr
    assert "stop it first" in run.stderr and "plane-sync rescan" in run.stderr


def test_status_before_any_sync_says_how_to_start(home: Path, folder: Path,
                                                  emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    run = cli(home, "status", "-c", str(config), PLANE_API_KEY=emulator.api_key)
    assert run.returncode == 0
    assert "no folder has been synced yet: run plane-sync sync" in run.stdout


def test_a_closed_stdout_is_not_a_traceback(home: Path, folder: Path,
                                            emulator: Emulator) -> None:
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}])
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `plane-sync status | head -0`: every write gets EPIPE
    try:
        run = subprocess.run([sys.executable, "-m", "plane_sync", "status", "-c", str(config)],
                             env=env_for(home, PLANE_API_KEY=emulator.api_key), cwd=home,
                             stdout=write_end, stderr=subprocess.PIPE, text=True,
                             timeout=TIMEOUT, check=False)
    finally:
        os.close(write_end)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


# -- Ctrl-C -------------------------------------------------------------------------------


def test_ctrl_c_during_sync_says_how_far_it_got(home: Path, folder: Path,
                                                emulator: Emulator) -> None:
    for i in range(30):
        (folder / f"f{i:02d}.txt").write_text(f"{i}\n", encoding="utf-8")
    # 2 requests a second: the pass takes far longer than it takes us to interrupt it.
    config = write_config(home / "c.yaml", emulator, [{"path": str(folder),
                                                       "work_item": "PROJ-1"}],
                          rate_limit="2/1s")
    proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "sync", "-c", str(config)],
                            env=env_for(home, PLANE_API_KEY=emulator.api_key), cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not any(r.server == "storage" for r in emulator.requests()):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)  # polling for the first upload, not timing anything
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"interrupted while syncing PROJ-1 ({folder})" in err
    assert "the next sync does the rest" in err
    assert "Total:" not in out  # totals over the finished folders only would mislead


def test_demo_stops_on_ctrl_c_with_a_summary(home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "demo"], env=env_for(home),
                            cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        while sum(line.startswith("uploaded") for line in seen) < 3 or not any(
                line.startswith("downloaded attached-in-Plane.txt") for line in seen):
            line = proc.stdout.readline()
            assert line, (seen, proc.stderr.read() if proc.stderr else "")
            seen.append(line)
        assert any("Ctrl-C stops" in line for line in seen)
        watching = next(line for line in seen if line.startswith("Watching "))
        assert watching.split()[1].startswith(str(home))  # under TMPDIR
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "PROJ-1 has 4 attachment(s)" in out  # the colleague's one is not uploaded back
    folder = Path(watching.split()[1])
    assert (folder / "attached-in-Plane.txt").read_text().startswith("Attached in Plane")
    assert "The demo folder is left in " in out and "rm -r" in out
