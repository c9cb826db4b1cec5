"""Security tests: helpers to run the CLI as a subprocess against the emulator on loopback.

- ``cli_world``: a :class:`CliWorld` over a started ``Emulator(rate_limit=None)`` with a folder,
  a state directory and a 0600 config holding the key (through ``${PLANE_API_KEY}``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from plane_sync.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliWorld:
    emu: Emulator
    root: Path

    @property
    def folder(self) -> Path:
        return self.root / "files"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def write_config(self, **plane: Any) -> Path:
        data = {
            "plane": {"url": self.emu.url, "api_key": "${PLANE_API_KEY}",
                      "workspace": self.emu.workspace, "rate_limit": "100000/1s",
                      "timeout": "10s", **plane},
            "state_dir": str(self.state_dir),
            "defaults": {"settle": 0},
            "folders": [{"path": str(self.folder), "work_item": "PROJ-1"}],
        }
        self.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
        self.config_path.chmod(0o600)
        return self.config_path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PLANE_", "XDG_")) and k != "PYTHONPATH"}
        env.update(PLANE_API_KEY=self.emu.api_key, PYTHONPATH=str(REPO), HOME=str(self.root))
        cmd, *rest = args
        return subprocess.run(
            [sys.executable, "-m", "plane_sync", cmd, "-c", str(self.config_path), *rest],
            env=env, capture_output=True, text=True, cwd=self.root, timeout=90, check=False)


@pytest.fixture
def cli_world(tmp_path: Path) -> Iterator[CliWorld]:
    emu = Emulator(rate_limit=None).start()
    try:
        world = CliWorld(emu, tmp_path)
        world.folder.mkdir()
        world.write_config()
        yield world
    finally:
        emu.stop()
