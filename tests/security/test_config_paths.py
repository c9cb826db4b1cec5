"""Configuration paths that would send secrets or state to Plane are refused: a key file or a
config file holding the key inside a synced folder, a state_dir reached through a symlink
into a folder. Globs cannot reach outside a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from plane_sync.config.load import load_config
from plane_sync.errors import ConfigError
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import scan_folder

KEY = "plane_api_" + "cd" * 16


def write_config(path: Path, folder: Path, *, plane: str, extra: str = "",
                 folder_extra: str = "", state_dir: Path | None = None) -> Path:
    state = state_dir or path.parent / "state"
    path.write_text(
        f"plane: {{url: 'https://p.example.com', workspace: acme, {plane}}}\n"
        f"state_dir: '{state}'\n"
        f"folders: [{{path: '{folder}', work_item: PROJ-1{folder_extra}}}]\n{extra}")
    path.chmod(0o600)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"PLANE_API_KEY": KEY})
    return info.value.problems


def key_file_at(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KEY)
    path.chmod(0o600)
    return path


def test_api_key_file_inside_a_folder_is_refused(tmp_path: Path, folder: Path) -> None:
    key = key_file_at(folder / "sub" / "plane-key.txt")
    config = write_config(tmp_path / "c.yaml", folder, plane=f"api_key_file: '{key}'")
    [problem] = problems_of(config)
    assert problem.startswith("plane.api_key_file:") and "would be uploaded" in problem
    assert KEY not in problem


def test_api_key_file_reached_through_a_symlinked_folder_is_refused(
        tmp_path: Path) -> None:
    real = tmp_path / "real"
    key = key_file_at(real / "key.txt")
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    config = write_config(tmp_path / "c.yaml", linked, plane=f"api_key_file: '{key}'")
    assert any("would be uploaded" in p for p in problems_of(config))


@pytest.mark.parametrize(("name", "folder_extra"), [
    (".plane-key", ""),  # hidden: excluded by default
    ("key.secret", ", exclude: ['*.secret']"),  # excluded by the user
    ("private/key", ", exclude: ['private/']"),  # in an excluded directory
    ("sub/key", ", recurse: false"),  # below the top level of a flat folder
    ("key.txt", ", include: ['*.pdf']"),  # not included
])
def test_a_key_file_the_scan_would_not_take_is_fine(tmp_path: Path, folder: Path,
                                                      name: str, folder_extra: str) -> None:
    key = key_file_at(folder / name)
    config = write_config(tmp_path / "c.yaml", folder, plane=f"api_key_file: '{key}'",
                          folder_extra=folder_extra)
    assert load_config(config, env={}).plane.api_key == KEY


def test_a_config_file_holding_the_key_inside_a_folder_is_refused(tmp_path: Path,
                                                                  folder: Path) -> None:
    config = write_config(folder / "plane-sync.yaml", folder, plane=f"api_key: '{KEY}'",
                          state_dir=tmp_path / "state")
    [problem] = problems_of(config)
    assert "this config file, which holds the API key" in problem and KEY not in problem


def test_a_config_file_taking_the_key_from_the_environment_may_be_inside(
        tmp_path: Path, folder: Path) -> None:
    config = write_config(folder / "plane-sync.yaml", folder,
                          plane="api_key: '${PLANE_API_KEY}'", state_dir=tmp_path / "state")
    assert load_config(config, env={"PLANE_API_KEY": KEY}).plane.api_key == KEY


def test_state_dir_through_a_symlink_into_the_folder_is_refused(tmp_path: Path,
                                                                folder: Path) -> None:
    (folder / "state").mkdir()
    sneaky = tmp_path / "state-link"
    sneaky.symlink_to(folder / "state")
    config = write_config(tmp_path / "c.yaml", folder, plane="api_key: '${PLANE_API_KEY}'",
                          state_dir=sneaky)
    assert any(p.startswith("state_dir:") for p in problems_of(config))


@pytest.mark.parametrize("pattern", ["../*", "../outside.txt", "/etc/*", "**/../*",
                                     "/*", "**"])
def test_include_globs_only_filter_the_walk_of_the_folder(tmp_path: Path,
                                                          pattern: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "inside.txt").write_text("ok")
    result = scan_folder(folder, IgnoreRules(include=(pattern,)))
    assert {f.rel_path for f in result.files} <= {"inside.txt"}
