"""``plane-sync init`` as a person meets it (a pseudo-terminal, wrong answers first) and as a
script runs it, against the emulator; then the service path: the user unit init writes, run
the way systemd runs it (``env -i``: no shell environment, no exported key)."""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plane_sync.emulator import Emulator
from plane_sync.service.units import render_user_unit

from .test_cli_usability import REPO, cli, env_for

UNITS = REPO / "systemd"


class Terminal:
    """A child on a pseudo-terminal: wait for a prompt, type an answer, keep a transcript."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)  # noqa: S606 - argv is ours
        self.transcript = ""
        self.seen = 0  # what expect() matched so far: each prompt is looked for after it

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """Read until ``text`` shows (after what was matched before); the timeout only
        catches a hang."""
        deadline = time.monotonic() + timeout
        while text not in self.transcript[self.seen:]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} on the terminal:\n{self.transcript}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                assert chunk, f"the program ended before {text!r}:\n{self.transcript}"
                self.transcript += chunk.decode(errors="replace").replace("\r\n", "\n")
        self.seen = self.transcript.index(text, self.seen) + len(text)
        return self.transcript

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.fd, text.encode() + b"\n")

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:  # drain what is left, so the child never blocks on a full terminal
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.transcript += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, f"init did not end:\n{self.transcript}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_init_on_a_terminal_asks_again_until_plane_agrees(home: Path,
                                                         emulator: Emulator) -> None:
    term = Terminal([sys.executable, "-m", "plane_sync", "init"], env_for(home), REPO)
    term.answer("Plane address", "http://127.0.0.1:1")  # nothing listens there
    term.answer("API key", "plane_api_" + "0" * 32)  # a wrong key
    term.expect("cannot reach http://127.0.0.1:1")
    term.answer("Plane address", emulator.url)
    term.expect("rejected the API key")  # the address works now; the key does not
    term.answer("API key", emulator.api_key)
    term.expect("API key accepted")
    term.answer("Workspace", "nope")
    term.expect("workspace 'nope' does not exist")
    term.answer("Workspace", emulator.workspace)
    term.expect("workspace acme: PROJ (Project)")
    folder = home / "Plane" / "PROJ-1 notes"
    term.answer("Folder to sync", str(folder))
    term.answer("Work item for", "PROJ-99")
    term.expect("PROJ-99")
    term.answer("[PROJ-1]: ", "")  # the guess from the folder's name
    term.expect("PROJ-1: Work item 1")
    term.answer("Install the systemd user unit", "n")
    assert term.wait() == 0, term.transcript
    assert emulator.api_key not in term.transcript  # hidden input, never echoed

    config = home / ".config" / "plane-sync" / "config.yaml"
    key_file = config.parent / "api-key"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == emulator.api_key
    assert emulator.api_key not in config.read_text()
    assert folder.is_dir()
    check = cli(home, "check")  # no -c, no $PLANE_API_KEY: what init wrote is enough
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(rf"{re.escape(str(folder))}\s+PROJ-1\s+Work item 1", check.stdout)


def test_init_without_a_terminal_names_what_is_missing(home: Path) -> None:
    run = cli(home, "init", "--non-interactive", "--url", "http://127.0.0.1:1")
    assert run.returncode == 2
    assert "--api-key-file is missing" in run.stderr
    assert not (home / ".config" / "plane-sync").exists()


def test_init_refuses_to_replace_a_config_unless_forced(home: Path) -> None:
    config = home / ".config" / "plane-sync" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("mine\n")
    run = cli(home, "init", "--non-interactive")
    assert run.returncode == 2 and "--force" in run.stderr
    assert config.read_text() == "mine\n"


def _unit_directives(text: str) -> tuple[list[str], dict[str, str]]:
    exec_start = next(line.split("=", 1)[1] for line in text.splitlines()
                      if line.startswith("ExecStart="))
    environment = dict(shlex.split(line.split("=", 1)[1])[0].split("=", 1)
                       for line in text.splitlines() if line.startswith("Environment="))
    return shlex.split(exec_start), environment


def test_the_unit_init_writes_runs_as_systemd_runs_it(home: Path, tmp_path: Path,
                                                      emulator: Emulator) -> None:
    folder = home / "docs"
    folder.mkdir()
    (folder / "report.txt").write_text("quarterly\n")
    key_file = tmp_path / "key"
    key_file.write_text(emulator.api_key + "\n")
    config = home / "elsewhere.yaml"  # not the default place: the unit must say where
    run = cli(home, "init", "--non-interactive", "-c", str(config), "--url", emulator.url,
              "--api-key-file", str(key_file), "--workspace", emulator.workspace,
              "--folder", str(folder), "--work-item", "PROJ-2", "--unit", "install")
    assert run.returncode == 0, run.stdout + run.stderr
    unit = home / ".config" / "systemd" / "user" / "plane-sync.service"
    text = unit.read_text()
    argv, environment = _unit_directives(text.replace("%h", str(home)))
    assert Path(argv[0]).is_absolute() and argv[1:] == ["run"]
    assert environment["PLANE_SYNC_CONFIG"] == str(config)
    assert "api_key_file" in config.read_text()

    # systemd's environment: HOME and a plain PATH; no PLANE_API_KEY, no venv on PATH.
    stderr = tmp_path / "daemon.log"
    with open(stderr, "wb") as err:
        daemon = subprocess.Popen(
            ["env", "-i", f"HOME={home}", "PATH=/usr/local/bin:/usr/bin:/bin",
             *[f"{k}={v}" for k, v in environment.items()], *argv],
            stdout=subprocess.DEVNULL, stderr=err, cwd="/")
    try:
        item = emulator.work_items[1]
        deadline = time.monotonic() + 60
        while not emulator.attachments(item["id"]):
            assert daemon.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)  # waiting for the upload, not timing it
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, stderr.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert [a["attributes"]["name"] for a in emulator.attachments(item["id"])] == ["report.txt"]

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        assert not os.environ.get("CI"), "systemd-analyze is missing in CI"
        pytest.skip("systemd-analyze is not installed (CI installs it)")
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert verify.returncode == 0, verify.stderr
    assert [line for line in (verify.stdout + verify.stderr).splitlines()
            if "plane-sync.service" in line] == []


def test_the_shipped_user_unit_is_the_one_init_writes() -> None:
    assert (UNITS / "plane-sync.service").read_text() == render_user_unit()
