"""The state directory is 0700 and the database with its -wal/-shm files 0600, whatever the
umask and whatever an older version or the user left there. World-readable key files warn."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.config.load import parse_config
from plane_sync.config.types import Config
from plane_sync.service.runtime import STATE_FILE, StateLock, open_state

KEY = "plane_api_" + "ab" * 16


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def config_for(tmp_path: Path, state_dir: Path) -> Config:
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    return parse_config(
        f"plane: {{url: 'https://plane.example.com', api_key: '{KEY}', workspace: acme}}\n"
        f"state_dir: '{state_dir}'\n"
        f"folders: [{{path: '{folder}', work_item: PROJ-1}}]\n")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def use(config: Config) -> Path:
    """Open the state database, write through WAL, and return the state directory."""
    with StateLock(config.state_dir):
        db = open_state(config)
        try:
            assert db.journal_mode().lower() == "wal"
            db.record_skip("folder", "a.txt", "test", fingerprint="test")
        finally:
            db.close()
    return config.state_dir


def test_a_new_state_directory_and_database_are_private(tmp_path: Path) -> None:
    state = use(config_for(tmp_path, tmp_path / "deep" / "state"))
    assert mode(state) == 0o700
    files = sorted(p.name for p in state.iterdir())
    assert STATE_FILE in files
    for name in files:
        assert mode(state / name) == 0o600, name


def test_wal_and_shm_files_are_private_while_open(tmp_path: Path) -> None:
    config = config_for(tmp_path, tmp_path / "state")
    db = open_state(config)
    try:
        db.record_skip("folder", "a.txt", "test", fingerprint="test")
        wal = config.state_dir / (STATE_FILE + "-wal")
        shm = config.state_dir / (STATE_FILE + "-shm")
        assert wal.exists() and shm.exists()
        assert (mode(config.state_dir / STATE_FILE), mode(wal), mode(shm)) == (
            0o600, 0o600, 0o600)
    finally:
        db.close()


def test_loose_permissions_left_by_hand_or_an_older_version_are_tightened(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    old_db = state / STATE_FILE
    old_db.touch()
    old_db.chmod(0o644)
    use(config_for(tmp_path, state))
    assert mode(state) == 0o700
    assert mode(old_db) == 0o600


def test_world_readable_api_key_file_and_config_warn(tmp_path: Path) -> None:
    from plane_sync.config.load import load_config

    folder = tmp_path / "files"
    folder.mkdir()
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    config_path = tmp_path / "a.yaml"
    config_path.write_text(
        f"plane: {{url: 'https://p.example.com', api_key_file: '{key_file}', workspace: a}}\n"
        f"folders: [{{path: '{folder}', work_item: PROJ-1}}]\n")
    assert any("every user can read" in w for w in load_config(config_path, env={}).warnings)
    key_file.chmod(0o600)
    assert load_config(config_path, env={}).warnings == ()
    literal = tmp_path / "b.yaml"
    literal.write_text(
        f"plane: {{url: 'https://p.example.com', api_key: '{KEY}', workspace: a}}\n"
        f"folders: [{{path: '{folder}', work_item: PROJ-1}}]\n")
    literal.chmod(0o644)
    assert any("every user can read" in w for w in load_config(literal, env={}).warnings)
