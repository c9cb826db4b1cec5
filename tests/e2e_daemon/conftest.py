"""End-to-end fixtures: the Plane emulator in this process, ``plane-sync run`` as a subprocess.

- ``emu``: a started ``Emulator(rate_limit=None)``.
- ``daemon_factory(folders=[...], **defaults)``: writes a config and returns a
  :class:`DaemonProcess` (not yet started). Every process it made is killed at teardown.
- ``wait_until(predicate, timeout, what)``: poll a condition; fail with ``what`` on timeout.
  Timeouts are generous on purpose: they catch hangs, they do not measure speed.

The daemon logs JSON lines to stderr (``--log-format json``), captured to a file that the
tests read with :meth:`DaemonProcess.events`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from plane_sync.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {what}")
        time.sleep(interval)


def attached(emu: Emulator, item_id: str) -> list[dict[str, Any]]:
    return emu.attachments(item_id)


def attached_names(emu: Emulator, item_id: str) -> list[str]:
    return sorted(str(row["attributes"]["name"]) for row in emu.attachments(item_id))


class DaemonProcess:
    def __init__(self, config_path: Path, workdir: Path, env: dict[str, str]) -> None:
        self.config_path = config_path
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._log_paths: list[Path] = []

    def write_config(self, config: dict[str, Any]) -> None:
        # JSON is YAML; write then rename so a SIGHUP never reads half a file.
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.config_path)

    def start(self, *args: str, command: str = "run") -> DaemonProcess:
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        out = self.workdir / f"stdout.{self.runs}"
        err = self.workdir / f"stderr.{self.runs}"
        self._log_paths.append(err)
        argv = [sys.executable, "-m", "plane_sync", command]
        if command == "run":
            argv += ["-c", str(self.config_path), "--log-format", "json", "--log-level", "info"]
        argv += list(args)
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=stdout,
                                         stderr=stderr, stdin=subprocess.DEVNULL)
        self.stdout_path, self.stderr_path = out, err
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None, *, all_runs: bool = False) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paths = self._log_paths if all_runs else self._log_paths[-1:]
        for path in paths:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if name is None or event.get("event") == name:
                    found.append(event)
        return found

    def uploads(self, *, all_runs: bool = False) -> list[dict[str, Any]]:
        """Every ``upload.done`` event: there is one per upload (the engine's, with folder,
        path relative to it, work_item, bytes and ms)."""
        return self.events("upload.done", all_runs=all_runs)

    def wait_passes_uploaded(self, count: int, timeout: float = 60.0) -> None:
        """Wait until the ``sync.pass`` lines (debug) account for ``count`` uploads: the pass
        that uploaded the last file has ended (its uploads show in Plane before that)."""
        wait_until(lambda: sum(e["uploaded"] for e in self.events("sync.pass")) >= count,
                   timeout, f"passes that uploaded {count} files")

    def wait_event(self, name: str, timeout: float = 30.0,
                   where: Callable[[dict[str, Any]], bool] = lambda e: True,
                   ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            self.assert_running()
            return next((e for e in self.events(name) if where(e)), None)

        found: dict[str, Any] = wait_until(check, timeout, f"log event {name}")
        return found

    def assert_running(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"daemon exited with {code}; stderr:\n{self.stderr()[-4000:]}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def folder_entry(path: Path, work_item: str, **settings: Any) -> dict[str, Any]:
    return {"path": str(path), "work_item": work_item, **settings}


class DaemonFactory:
    def __init__(self, emu: Emulator, tmp_path: Path) -> None:
        self.emu = emu
        self.tmp_path = tmp_path
        self.made: list[DaemonProcess] = []

    def config(self, folders: list[dict[str, Any]], *, api_key: str | None = None,
               **defaults: Any) -> dict[str, Any]:
        settings: dict[str, Any] = {"settle": 0.3, "watch": "inotify",
                                    "rescan_interval": "10m"}
        settings.update(defaults)
        return {
            "plane": {"url": self.emu.url, "api_key": api_key or self.emu.api_key,
                      "workspace": self.emu.workspace, "rate_limit": "100000/minute",
                      "timeout": "10s"},
            "state_dir": str(self.tmp_path / "state"),
            "defaults": settings,
            "folders": folders,
        }

    def __call__(self, folders: list[dict[str, Any]], *, env: dict[str, str] | None = None,
                 api_key: str | None = None, **defaults: Any) -> DaemonProcess:
        workdir = self.tmp_path / f"daemon{len(self.made)}"
        workdir.mkdir()
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        daemon = DaemonProcess(workdir / "config.yaml", workdir, full_env)
        daemon.write_config(self.config(folders, api_key=api_key, **defaults))
        self.made.append(daemon)
        return daemon


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emulator:
        yield emulator


@pytest.fixture
def daemon_factory(emu: Emulator, tmp_path: Path) -> Iterator[DaemonFactory]:
    factory = DaemonFactory(emu, tmp_path)
    yield factory
    for daemon in factory.made:
        daemon.kill()


@pytest.fixture
def item(emu: Emulator) -> dict[str, Any]:
    """The first work item (``id``, ``identifier``)."""
    return emu.work_items[0]
