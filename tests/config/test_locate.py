"""Where the commands that only look (status, pause, resume, rescan) find a daemon's state,
without the API key and without touching a folder; and the metrics key."""

from __future__ import annotations

from pathlib import Path

import pytest

from plane_sync.config.load import parse_config
from plane_sync.config.locate import locate_state
from plane_sync.errors import ConfigError

KEYLESS = """\
plane: {url: https://plane.example.com, api_key: "${PLANE_API_KEY}", workspace: acme}
folders:
  - {path: /mnt/share/never-stat-me, work_item: PROJ-1}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_key_is_not_needed_and_the_folders_are_only_named(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", KEYLESS + "state_dir: ~/st\n")
    found = locate_state(str(config), {"HOME": str(tmp_path)})  # no PLANE_API_KEY
    assert found.state_dir == tmp_path / "st"
    assert found.folders == (Path("/mnt/share/never-stat-me"),)


def test_an_admin_finds_the_system_units_daemon(tmp_path: Path) -> None:
    system = write(tmp_path / "etc" / "config.yaml", KEYLESS)
    home = tmp_path / "root-home"  # no config of its own
    found = locate_state(None, {"HOME": str(home)}, system_path=system,
                         system_state_dir=tmp_path / "var-lib")
    assert (found.source, found.state_dir) == (system, tmp_path / "var-lib")
    under_systemd = locate_state(None, {"HOME": str(home), "STATE_DIRECTORY": "/srv/ps"},
                                 system_path=system)
    assert under_systemd.state_dir == Path("/srv/ps")
    named = write(system, KEYLESS + "state_dir: /srv/named\n")
    assert locate_state(None, {"HOME": str(home)}, system_path=named).state_dir == \
        Path("/srv/named")


def test_the_daemon_under_systemd_uses_its_state_directory() -> None:
    config = parse_config(KEYLESS, env={"PLANE_API_KEY": "plane_api_" + "0" * 32,
                                       "STATE_DIRECTORY": "/var/lib/plane-sync",
                                       "HOME": "/home/u"})
    assert config.state_dir == Path("/var/lib/plane-sync")


def test_a_broken_config_is_still_a_config_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "plane: [\n")
    with pytest.raises(ConfigError):
        locate_state(str(config), {"HOME": str(tmp_path)})


ENV = {"PLANE_API_KEY": "plane_api_" + "0" * 32, "HOME": "/home/u"}


@pytest.mark.parametrize(("value", "host", "port"), [
    ("127.0.0.1:9464", "127.0.0.1", 9464), (":9464", "127.0.0.1", 9464),
    ("'[::1]:9464'", "::1", 9464), ("{listen: localhost:1, max_pass_age: 30m}", "localhost", 1),
])
def test_metrics_listen_forms(value: str, host: str, port: int) -> None:
    config = parse_config(KEYLESS + f"metrics: {value}\n", env=ENV)
    assert config.metrics is not None
    assert (config.metrics.host, config.metrics.port) == (host, port)
    assert config.warnings == ()


def test_metrics_off_loopback_warns_and_nonsense_is_refused() -> None:
    open_config = parse_config(KEYLESS + "metrics: 0.0.0.0:9464\n", env=ENV)
    assert any("not a loopback address" in w for w in open_config.warnings)
    with pytest.raises(ConfigError, match="metrics: \"9464\" is not HOST:PORT"):
        parse_config(KEYLESS + "metrics: '9464'\n", env=ENV)
    with pytest.raises(ConfigError, match="metrics: unknown key"):
        parse_config(KEYLESS + "metrics: {listen: ':1', port: 2}\n", env=ENV)
