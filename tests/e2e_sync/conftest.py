"""End-to-end helpers: a Plane emulator on loopback, a config file for it, and the CLI run as
a subprocess (``python -m plane_sync ...``) exactly as a user would run it.

- ``world``: a :class:`World` over a started ``Emulator(rate_limit=None)``: ``world.folder``
  (created, empty), ``world.write_config(...)``, ``world.sync(...)`` -> :class:`Run`.
- ``world_factory(**emulator_kwargs)``: the same over an emulator with other settings.

The API key reaches the config through ``${PLANE_API_KEY}`` in the subprocess environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from plane_sync.emulator import Emulator, RequestRecord

REPO = Path(__file__).resolve().parents[2]
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
RUN_TIMEOUT = 90.0


@dataclass
class Run:
    """One finished CLI process."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (f"plane-sync {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}"
                f"\n--- stderr\n{self.stderr}")


def attachment_list_gets(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """GETs of an attachment list (not of one attachment)."""
    return [r for r in records if r.server == "api" and r.method == "GET"
            and r.path.rstrip("/").endswith("attachments")]


def writes(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """Requests that change something: API writes and every storage request."""
    return [r for r in records if r.server == "storage" or r.method in WRITES]


@dataclass
class World:
    emu: Emulator
    root: Path  # private temp dir for this test
    folder: Path = field(init=False)
    state_dir: Path = field(init=False)
    config_path: Path = field(init=False)
    api_key: str = field(init=False)

    def __post_init__(self) -> None:
        self.folder = self.root / "files"
        self.folder.mkdir()
        self.state_dir = self.root / "state"
        self.config_path = self.root / "config.yaml"
        self.api_key = self.emu.api_key

    # -- emulator shortcuts --------------------------------------------------------------
    def item(self, number: int) -> dict[str, Any]:
        """The emulator's work item PROJ-<number>."""
        ident = f"{self.emu.project_identifier}-{number}"
        return next(i for i in self.emu.work_items if i["identifier"] == ident)

    def uploaded(self, number: int = 1, *, include_pending: bool = False,
                 ) -> list[dict[str, Any]]:
        return self.emu.attachments(self.item(number)["id"], include_pending=include_pending)

    def names(self, number: int = 1) -> list[str]:
        return sorted(a["attributes"]["name"] for a in self.uploaded(number))

    # -- config --------------------------------------------------------------------------
    def config(self, *, folders: list[dict[str, Any]] | None = None,
               state_dir: Path | None = None, url: str | None = None,
               **plane: Any) -> dict[str, Any]:
        return {
            "plane": {"url": url or self.emu.url, "api_key": "${PLANE_API_KEY}",
                      "workspace": self.emu.workspace, "rate_limit": "100000/1s",
                      "timeout": "10s", **plane},
            "state_dir": str(state_dir or self.state_dir),
            "defaults": {"settle": 0},
            "folders": folders if folders is not None
            else [{"path": str(self.folder), "work_item": "PROJ-1"}],
        }

    def write_config(self, data: dict[str, Any] | None = None, *, path: Path | None = None,
                     **kwargs: Any) -> Path:
        path = path or self.config_path
        path.write_text(yaml.safe_dump(data if data is not None else self.config(**kwargs)),
                        encoding="utf-8")
        path.chmod(0o600)
        return path

    # -- running the CLI -----------------------------------------------------------------
    def env(self, api_key: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PLANE_", "XDG_")) and k != "PYTHONPATH"}
        env["PLANE_API_KEY"] = self.api_key if api_key is None else api_key
        env["PYTHONPATH"] = str(REPO)
        env["HOME"] = str(self.root)
        return env

    def command(self, *args: str, config: Path | None = None) -> list[str]:
        cmd, *rest = args
        return [sys.executable, "-m", "plane_sync", cmd, "-c",
                str(config or self.config_path), *rest]

    def start(self, *args: str, config: Path | None = None,
              api_key: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args, config=config), env=self.env(api_key),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=self.root)

    def cli(self, *args: str, config: Path | None = None, api_key: str | None = None,
            raw: bool = False) -> Run:
        """Run ``plane-sync <args>`` to the end. ``raw``: pass args without ``-c``."""
        cmd = [sys.executable, "-m", "plane_sync", *args] if raw else \
            self.command(*args, config=config)
        done = subprocess.run(cmd, env=self.env(api_key), capture_output=True, text=True,
                              cwd=self.root, timeout=RUN_TIMEOUT, check=False)
        return Run(list(args), done.returncode, done.stdout, done.stderr)

    def sync(self, *extra: str, config: Path | None = None, expect: int | None = 0,
             api_key: str | None = None) -> Run:
        """``sync --json``; asserts the exit code unless ``expect`` is None."""
        run = self.cli("sync", "--json", *extra, config=config, api_key=api_key)
        if expect is not None:
            assert run.code == expect, str(run)
        return run


def finish(proc: subprocess.Popen[str]) -> Run:
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    return Run(proc.args[3:] if isinstance(proc.args, list) else [], proc.returncode, out, err)


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=RUN_TIMEOUT)


def make_files(folder: Path, count: int, *, prefix: str = "file", size: int = 64) -> list[str]:
    """``count`` distinct small files; returns their relative paths."""
    names = []
    for i in range(count):
        name = f"{prefix}{i:04d}.txt"
        body = (f"{name} " * (size // len(name) + 1)).encode()[:size]
        (folder / name).write_bytes(body)
        names.append(name)
    return names


def external_ids(attachments: Sequence[dict[str, Any]]) -> list[str]:
    return [a["external_id"] for a in attachments]


WorldFactory = Callable[..., World]


@pytest.fixture
def world_factory(tmp_path: Path) -> Iterator[WorldFactory]:
    started: list[Emulator] = []

    def make(**kwargs: Any) -> World:
        kwargs.setdefault("rate_limit", None)
        emu = Emulator(**kwargs).start()
        started.append(emu)
        root = tmp_path / f"w{len(started)}"
        root.mkdir()
        return World(emu, root)

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def world(world_factory: WorldFactory) -> World:
    return world_factory()
