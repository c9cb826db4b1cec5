"""The unit files parse, satisfy `systemd-analyze verify`, and carry the directives the
daemon relies on (Type=notify + watchdog, reload by SIGHUP, no restart on a config error)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT_FILES = ["plane-sync.service", "plane-sync-server.service"]


def directives(unit: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"directive outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


@pytest.mark.parametrize("name", UNIT_FILES)
def test_unit_has_the_directives_the_daemon_needs(name: str) -> None:
    service = directives(UNITS / name)["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["60"]
    assert service["Restart"] == ["on-failure"]
    # 2: bad config, 3: key rejected; restarting fixes neither.
    assert service["RestartPreventExitStatus"] == ["2 3"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert re.fullmatch(r"\S+/plane-sync run", service["ExecStart"][0])


def test_server_unit_is_hardened_and_gets_the_key_as_a_credential() -> None:
    service = directives(UNITS / "plane-sync-server.service")["Service"]
    assert service["User"] == ["plane-sync"]
    assert service["LoadCredential"] == ["plane-api-key:/etc/plane-sync/api-key"]
    assert service["StateDirectory"] == ["plane-sync"]
    for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "read-only"),
                       ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("ProtectKernelTunables", "yes")]:
        assert service[key] == [value], key
    assert "ProcSubset" not in service  # would hide /proc/sys/fs/inotify
    assert not any("PLANE_API_KEY=" in v for v in service.get("Environment", []))


def test_units_are_valid_ini() -> None:
    for name in UNIT_FILES:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string((UNITS / name).read_text())
        assert parser.has_section("Install")


@pytest.mark.parametrize("name", UNIT_FILES)
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # .ci/run installs it: in CI a missing verifier is a failure, not a skip.
        assert not os.environ.get("CI"), "systemd-analyze is missing in CI"
        pytest.skip("systemd-analyze is not installed (CI installs it)")
    # verify insists that the ExecStart binary exists and is executable; plane-sync is not
    # installed at /usr/local/bin or ~/.local/bin here, so a copy of the unit points at a stub
    # with the same name. Everything else is verified as shipped. The user unit is checked
    # by the system manager: `--user` needs a running user session, which CI does not have.
    stub = tmp_path / "bin" / "plane-sync"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = (UNITS / name).read_text()
    patched, count = re.subn(r"^ExecStart=\S+/plane-sync ", f"ExecStart={stub} ", text,
                             flags=re.MULTILINE)
    assert count == 1
    unit = tmp_path / name
    unit.write_text(patched)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    # verify exits 0 on unknown keys but prints them: any line naming our unit is a problem.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if name in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []


def test_server_unit_starts_after_the_shares_and_says_how_to_wait_for_one() -> None:
    unit = directives(UNITS / "plane-sync-server.service")["Unit"]
    assert "remote-fs.target" in unit["After"][0].split()
    text = (UNITS / "plane-sync-server.service").read_text()
    assert "#   RequiresMountsFor=/mnt/share" in text
