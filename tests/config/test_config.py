from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from plane_sync.config.load import (
    DEFAULT_EXCLUDES,
    Config,
    SingleTarget,
    SubfolderTarget,
    find_config_path,
    load_config,
    parse_config,
    parse_subfolder_name,
)
from plane_sync.config.values import parse_duration, parse_rate_limit, parse_size
from plane_sync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
KEY = "plane_api_0123456789abcdef0123456789abcdef"
ENV = {"PLANE_API_KEY": KEY, "HOME": "/home/user"}
PLANE = """\
plane:
  url: https://plane.example.com
  api_key: ${PLANE_API_KEY}
  workspace: acme
"""
ONE_FOLDER = """\
folders:
  - path: /data/a
    work_item: PROJ-1
"""
PROJECT_UUID = "0b7e4c2a-5d1f-4e8a-9c3b-2f6d8a1e4b70"
ITEM_UUID = "7c1d9e3f-2a4b-4c6d-8e0f-1a2b3c4d5e6f"


def parse(text: str, env: dict[str, str] | None = None, base_dir: Path = Path("/cfg")) -> Config:
    return parse_config(text, source="test.yaml", env=ENV if env is None else env,
                        base_dir=base_dir)


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    assert caught.value.source == "test.yaml"
    return caught.value.problems


# --- the example and the defaults ---------------------------------------------------------


def test_example_file_loads_and_shows_every_key() -> None:
    config = load_config(REPO / "config.example.yaml", env=ENV)
    assert config.plane.api_key == KEY
    assert config.plane.url == "https://api.plane.so"
    assert config.plane.rate_limit is None  # the server's own limit, learned
    assert config.state_dir == Path("/home/user/.local/state/plane-sync")
    single, by_uuid, subfolders = config.folders
    assert single.target == SingleTarget(identifier="PROJ-123")
    assert by_uuid.target == SingleTarget(project_id=PROJECT_UUID, work_item_id=ITEM_UUID)
    assert by_uuid.on_change == "keep"
    assert by_uuid.exclude == (*DEFAULT_EXCLUDES, "*.bak", "drafts/*")
    assert subfolders.target == SubfolderTarget()
    assert (subfolders.poll_interval, subfolders.rescan_interval) == (60.0, 3600.0)
    assert subfolders.include == ("*.pdf", "*.docx", "*.xlsx")
    assert config.warnings == ()
    text = (REPO / "config.example.yaml").read_text()
    for key in ("url", "api_key", "api_key_file", "workspace", "ca_bundle", "timeout",
                "rate_limit", "external_source", "file_size_limit", "state_dir", "include",
                "exclude", "exclude_defaults", "recurse", "on_change", "on_delete", "watch",
                "poll_interval", "settle", "rescan_interval", "rehash_interval",
                "io_timeout", "work_items", "project", "level", "format"):
        assert f"{key}:" in text, key


def test_minimal_config_gets_the_documented_defaults() -> None:
    config = parse(PLANE + ONE_FOLDER, env={**ENV, "XDG_STATE_HOME": "/var/state"})
    plane = config.plane
    assert (plane.timeout, plane.rate_limit, plane.external_source) == (30.0, None,
                                                                        "plane-sync")
    assert plane.file_size_limit is None and plane.ca_bundle is None
    assert config.state_dir == Path("/var/state/plane-sync")
    (folder,) = config.folders
    assert folder.include == ("*",)
    assert folder.exclude == DEFAULT_EXCLUDES
    assert (folder.recurse, folder.on_change, folder.on_delete, folder.watch) == (
        True, "replace", "keep", "auto")
    assert (folder.poll_interval, folder.settle, folder.rescan_interval) == (30.0, 2.0, 600.0)
    assert (folder.rehash_interval, folder.io_timeout) == (7 * 86400.0, 30.0)
    assert (config.log.level, config.log.format) == ("info", "auto")
    assert config.source == Path("test.yaml")


def test_default_excludes_cover_the_spec_list() -> None:
    for pattern in (".*", "*.swp", "*.swx", "*~", ".#*", "#*#", "~$*", ".~lock.*#", "*.tmp",
                    "*.part", "*.crdownload", ".DS_Store", "Thumbs.db", "desktop.ini"):
        assert pattern in DEFAULT_EXCLUDES


# --- bad configs: each names its problem and its place ------------------------------------


BAD_CASES = {
    "identifier": (PLANE + "folders:\n  - path: /a\n    work_item: proj 12\n",
                   'folders[0].work_item: "proj 12" is not an identifier like PROJ-12'),
    "url missing": ("plane:\n  api_key: x\n  workspace: acme\n" + ONE_FOLDER,
                    "plane.url: missing"),
    "workspace missing": ("plane:\n  url: https://p.example\n  api_key: ${PLANE_API_KEY}\n"
                          + ONE_FOLDER, "plane.workspace: missing"),
    "misspelt key": (PLANE + ONE_FOLDER + "    recurze: false\n",
                     'folders[0]: unknown key "recurze" (did you mean "recurse"?)'),
    "both targets": (PLANE + ONE_FOLDER + "    work_items: subfolders\n",
                     "folders[0]: give either work_item or work_items: subfolders, not both"),
    "no target": (PLANE + "folders:\n  - path: /a\n",
                  "folders[0]: missing work_item (e.g. PROJ-12) or work_items: subfolders"),
    "ftp url": (PLANE.replace("https://plane.example.com", "ftp://x") + ONE_FOLDER,
                'plane.url: "ftp://x" is not an http(s) URL'),
    "bool type": (PLANE + ONE_FOLDER + "    recurse: yes please\n",
                  'folders[0].recurse: expected true or false, got "yes please"'),
    "enum": (PLANE + ONE_FOLDER + "    on_delete: remove\n",
             'folders[0].on_delete: "remove" is not one of: keep, delete'),
    "watch enum in defaults": (PLANE + "defaults:\n  watch: fanotify\n" + ONE_FOLDER,
                               'defaults.watch: "fanotify" is not one of: auto, inotify, poll'),
    "duration": (PLANE + ONE_FOLDER + "    settle: soon\n",
                 'folders[0].settle: "soon" is not a duration '
                 '(use seconds, or a string like "30s", "2m", "1h")'),
    "zero poll": (PLANE + ONE_FOLDER + "    poll_interval: 0\n",
                  "folders[0].poll_interval: must be more than zero"),
    "negative settle": (PLANE + ONE_FOLDER + "    settle: -1\n",
                        "folders[0].settle: -1 must be a finite duration of zero or more"),
    "top-level key": (PLANE + ONE_FOLDER + "flders: []\n",
                      'unknown top-level key "flders" (did you mean "folders"?)'),
    "yaml syntax": (PLANE + "folders:\n  - path: /a\n   work_item: X-1\n",
                    "line 7, column 4: YAML syntax error: expected <block end>, but found "
                    "'<block mapping start>' (while parsing a block collection that starts at "
                    "line 6, column 3)"),
    "tab indent": ("plane:\n\turl: x\n", "line 2, column 1: YAML syntax error: found "
                   "character '\\t' that cannot start any token (while scanning for the next "
                   "token); YAML indents with spaces, not tabs"),
    "empty file": ("# nothing but a comment\n",
                   "the file is empty (config.example.yaml shows every key)"),
    "not a mapping": ("- plane\n", 'the top level must be a mapping (plane:, folders:, ...), '
                      'got a list'),
    "duplicate yaml key": (PLANE + ONE_FOLDER + "    work_item: PROJ-2\n",
                           'line 8, column 5: duplicate key "work_item" '
                           "(each key may appear once in a mapping)"),
    "same path": (PLANE + ONE_FOLDER + "  - path: /data/a/\n    work_item: PROJ-2\n",
                  "folders[1].path: /data/a is already folders[0].path"),
    "nested": (PLANE + ONE_FOLDER + "  - path: /data/a/inner\n    work_item: PROJ-2\n",
               "folders[1].path: /data/a/inner is inside folders[0] (/data/a); "
               "nested folders would sync files twice"),
    "same work item": (PLANE + ONE_FOLDER + "  - path: /data/b\n    work_item: proj-01\n",
                       "folders[1]: maps to the same work item as folders[0] (PROJ-1); "
                       "two folders would fight over which files are deleted"),
    "bad project uuid": (PLANE + f"folders:\n  - path: /a\n    project: PROJ\n"
                         f"    work_item: {ITEM_UUID}\n",
                         'folders[0].project: "PROJ" is not a project UUID'),
    "uuid without project": (PLANE + f"folders:\n  - path: /a\n    work_item: {ITEM_UUID}\n",
                             "folders[0]: a work_item UUID needs project: <project UUID> "
                             "as well"),
    "unset variable": (PLANE + ONE_FOLDER.replace("/data/a", "${SHARE}/a"),
                       "folders[0].path: environment variable SHARE is not set"),
    "rate limit": (PLANE + "  rate_limit: fast\n" + ONE_FOLDER,
                   'plane.rate_limit: "fast" is not a rate like "60/minute" or "60/60s"'),
    "external_source length": (PLANE + f"  external_source: {'x' * 256}\n" + ONE_FOLDER,
                               "plane.external_source: must be 1 to 255 characters"),
    "two key sources": (PLANE + "  api_key_file: /k\n" + ONE_FOLDER,
                        "plane: give either api_key or api_key_file, not both"),
    "no key": ("plane:\n  url: https://p.example\n  workspace: acme\n" + ONE_FOLDER,
               "plane: missing api_key (e.g. ${PLANE_API_KEY}) or api_key_file"),
    "no folders": (PLANE, "folders: missing (list the folders to sync)"),
    "empty folders": (PLANE + "folders: []\n",
                      "folders: the list is empty; add at least one folder"),
    "folder not a mapping": (PLANE + "folders:\n  - /data/a\n",
                             'folders[0]: expected a mapping with path: and work_item:, '
                             'got "/data/a"'),
    "workspace url": (PLANE.replace("workspace: acme", "workspace: https://app.plane.so/acme")
                      + ONE_FOLDER,
                      'plane.workspace: "https://app.plane.so/acme" is not a workspace slug '
                      "(the part after the host in Plane's web address, e.g. acme)"),
    "log format": (PLANE + ONE_FOLDER + "log:\n  format: xml\n",
                   'log.format: "xml" is not one of: auto, console, json'),
    "file size": (PLANE + "  file_size_limit: lots\n" + ONE_FOLDER,
                  'plane.file_size_limit: "lots" is not a size in bytes '
                  '(e.g. 5242880, "5MiB" or "100MB")'),
    "state dir inside folder": (PLANE + "state_dir: /data/a/.state\n" + ONE_FOLDER,
                                "state_dir: /data/a/.state is inside folders[0] (/data/a); "
                                "the state database would be synced"),
    "empty include": (PLANE + ONE_FOLDER + "    include: []\n",
                      "folders[0].include: an empty list would sync nothing; leave it out to "
                      "include all"),
    "subfolders typo": (PLANE + "folders:\n  - path: /a\n    work_items: subfolder\n",
                        'folders[0].work_items: "subfolder" is not one of: subfolders'),
    "recheck share": (PLANE + "  recheck_share: 150%\n" + ONE_FOLDER,
                      'plane.recheck_share: "150%" must be more than 0 and at most 100%'),
    "recheck share text": (PLANE + "  recheck_share: some\n" + ONE_FOLDER,
                           'plane.recheck_share: "some" is not a share (write "10%" or 0.1)'),
    "no workers": (PLANE + "  upload_workers: 0\n" + ONE_FOLDER,
                   "plane.upload_workers: 0 must be from 1 to 16"),
    "workers text": (PLANE + "  upload_workers: many\n" + ONE_FOLDER,
                     'plane.upload_workers: "many" is not a whole number'),
    "upload rate": (PLANE + "  max_upload_rate: fast\n" + ONE_FOLDER,
                    'plane.max_upload_rate: "fast" is not a size in bytes '
                    '(e.g. 5242880, "5MiB" or "100MB")'),
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_config_names_exactly_its_problem(case: str) -> None:
    text, expected = BAD_CASES[case]
    assert problems_of(text) == [expected]


def test_misspelt_path_reports_the_unknown_key_and_the_missing_one() -> None:
    text = PLANE + "folders:\n  - pth: /a\n    work_item: PROJ-1\n"
    assert problems_of(text) == ['folders[0]: unknown key "pth" (did you mean "path"?)',
                                 "folders[0].path: missing"]


def test_every_problem_is_listed_at_once() -> None:
    text = """\
plane:
  url: ftp://x
  api_key: ${NOPE}
folders:
  - path: /a
    work_item: proj 12
    recurse: yes please
  - path: /b
    work_item: PROJ-1
    work_items: subfolders
  - path: /a/b
    work_item: PROJ-3
    on_change: overwrite
    rescan_interval: often
flders: []
"""
    with pytest.raises(ConfigError) as caught:
        parse(text)
    error = caught.value
    assert error.problems == [
        'unknown top-level key "flders" (did you mean "folders"?)',
        'plane.url: "ftp://x" is not an http(s) URL',
        "plane.workspace: missing",
        "plane.api_key: environment variable NOPE is not set",
        'folders[0].work_item: "proj 12" is not an identifier like PROJ-12',
        'folders[0].recurse: expected true or false, got "yes please"',
        "folders[1]: give either work_item or work_items: subfolders, not both",
        'folders[2].on_change: "overwrite" is not one of: replace, keep',
        'folders[2].rescan_interval: "often" is not a duration '
        '(use seconds, or a string like "30s", "2m", "1h")',
    ]
    assert "9 problem(s) in test.yaml" in str(error)


# --- environment substitution -------------------------------------------------------------


def test_env_substitution_with_defaults_escapes_and_typed_values() -> None:
    text = PLANE.replace("acme", "${WS:-acme}") + """\
state_dir: ${STATE}/ps
folders:
  - path: ${SHARE:-/mnt/share}/tickets
    work_items: subfolders
    recurse: ${RECURSE:-false}
    settle: ${SETTLE:-5s}
    on_delete: ${ON_DELETE}
    exclude: ["$${literal}", "${EXTRA}"]
"""
    env = {**ENV, "STATE": "/var/lib", "EXTRA": "*.log", "ON_DELETE": "delete", "WS": ""}
    config = parse(text, env)
    assert config.plane.workspace == "acme"  # empty -> default, like the shell
    assert config.state_dir == Path("/var/lib/ps")
    (folder,) = config.folders
    assert folder.path == Path("/mnt/share/tickets")
    assert (folder.recurse, folder.settle, folder.on_delete) == (False, 5.0, "delete")
    assert folder.exclude[-2:] == ("${literal}", "*.log")


def test_malformed_reference_is_a_problem() -> None:
    text = PLANE + ONE_FOLDER.replace("/data/a", "${SHARE/a")
    assert problems_of(text) == ['folders[0].path: "${SHARE/a" has a malformed ${...} '
                                 'reference (write ${NAME} or ${NAME:-default})']


def test_paths_expand_home_and_are_relative_to_the_config_directory() -> None:
    text = PLANE + "state_dir: state\nfolders:\n  - path: ~/Plane/x\n    work_item: P-1\n" \
        "  - path: ../share/y\n    work_item: P-2\n"
    config = parse(text, base_dir=Path("/etc/plane-sync"))
    assert config.state_dir == Path("/etc/plane-sync/state")
    assert [f.path for f in config.folders] == [Path("/home/user/Plane/x"),
                                                 Path("/etc/share/y")]


# --- api key ------------------------------------------------------------------------------


def _write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_api_key_file_is_read_and_stripped(tmp_path: Path) -> None:
    _write(tmp_path / "key", f"  {KEY}\n", 0o600)
    text = PLANE.replace("api_key: ${PLANE_API_KEY}", "api_key_file: key") + ONE_FOLDER
    config = parse(text, env={"HOME": "/h"}, base_dir=tmp_path)
    assert config.plane.api_key == KEY
    assert config.warnings == ()


def test_unreadable_or_empty_api_key_file_is_a_problem(tmp_path: Path) -> None:
    text = PLANE.replace("api_key: ${PLANE_API_KEY}", "api_key_file: key") + ONE_FOLDER
    with pytest.raises(ConfigError) as caught:
        parse(text, base_dir=tmp_path)
    assert caught.value.problems == [
        f"plane.api_key_file: cannot read {tmp_path / 'key'}: No such file or directory"]
    _write(tmp_path / "key", "\n", 0o600)
    with pytest.raises(ConfigError) as caught:
        parse(text, base_dir=tmp_path)
    assert caught.value.problems == ["plane.api_key_file: the API key is empty"]


def test_world_readable_api_key_file_warns(tmp_path: Path) -> None:
    key_file = _write(tmp_path / "key", KEY, 0o644)
    text = PLANE.replace("api_key: ${PLANE_API_KEY}", f"api_key_file: {key_file}") + ONE_FOLDER
    (warning,) = parse(text).warnings
    assert warning == (f"plane.api_key_file: every user can read {key_file}, which holds the "
                       f"API key; run chmod 600 {key_file}")
    key_file.chmod(0o600)
    assert parse(text).warnings == ()


def test_world_readable_config_with_a_literal_key_warns(tmp_path: Path) -> None:
    literal = _write(tmp_path / "literal.yaml",
                     PLANE.replace("${PLANE_API_KEY}", KEY) + ONE_FOLDER, 0o644)
    (warning,) = load_config(literal, env={}).warnings
    assert "chmod 600" in warning and "api_key_file or ${PLANE_API_KEY}" in warning
    assert warning.startswith(f"{literal}: every user can read this file")
    assert KEY not in warning
    literal.chmod(0o600)
    assert load_config(literal, env={}).warnings == ()
    from_env = _write(tmp_path / "env.yaml", PLANE + ONE_FOLDER, 0o644)
    assert load_config(from_env, env=ENV).warnings == ()
    fallback = _write(tmp_path / "fallback.yaml",
                      PLANE.replace("${PLANE_API_KEY}", "${NOPE:-" + KEY + "}") + ONE_FOLDER,
                      0o644)
    assert len(load_config(fallback, env={}).warnings) == 1  # the fallback is in the file


def test_api_key_never_appears_in_repr_problems_or_warnings() -> None:
    odd_key = "not-a-plane-key-SECRET"
    config = parse(PLANE + ONE_FOLDER, env={"PLANE_API_KEY": odd_key})
    assert odd_key not in repr(config) and odd_key not in repr(config.plane)
    assert config.warnings == ("plane.api_key: does not look like a Plane API key "
                               "(plane_api_ followed by hex digits); using it anyway",)
    for value in ("12345", "[1, 2]", '"abc def"'):
        problems = problems_of(PLANE.replace("${PLANE_API_KEY}", value) + ONE_FOLDER)
        assert len(problems) == 1 and problems[0].startswith("plane.api_key: ")
        assert all(part not in problems[0] for part in ("12345", "abc", "def"))


# --- discovery ----------------------------------------------------------------------------


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cli = _write(tmp_path / "cli.yaml", "", 0o600)
    from_env = _write(tmp_path / "env.yaml", "", 0o600)
    xdg = tmp_path / "xdg"
    (xdg / "plane-sync").mkdir(parents=True)
    xdg_file = _write(xdg / "plane-sync" / "config.yaml", "", 0o600)
    system = _write(tmp_path / "etc.yaml", "", 0o600)
    env = {"PLANE_SYNC_CONFIG": str(from_env), "XDG_CONFIG_HOME": str(xdg),
           "HOME": str(tmp_path / "home")}

    def find(cli_path: str | None, env: dict[str, str]) -> Path:
        return find_config_path(cli_path, env, system_path=system)

    assert find("cli.yaml", env) == cli
    assert find(None, env) == from_env
    assert find(None, {**env, "PLANE_SYNC_CONFIG": ""}) == xdg_file
    xdg_file.unlink()
    assert find(None, {"XDG_CONFIG_HOME": str(xdg), "HOME": "/nowhere"}) == system
    home_file = tmp_path / "home" / ".config" / "plane-sync" / "config.yaml"
    home_file.parent.mkdir(parents=True)
    _write(home_file, "", 0o600)
    assert find(None, {"HOME": str(tmp_path / "home")}) == home_file  # ~/.config default


def test_discovery_failures_say_where_they_looked(tmp_path: Path) -> None:
    system = tmp_path / "etc.yaml"
    with pytest.raises(ConfigError) as caught:
        find_config_path(None, {"HOME": str(tmp_path)}, system_path=system)
    assert caught.value.problems[:2] == [
        f"{tmp_path}/.config/plane-sync/config.yaml: not found", f"{system}: not found"]
    with pytest.raises(ConfigError) as caught:
        find_config_path(str(tmp_path / "x.yaml"), {}, system_path=system)
    assert caught.value.problems == [f"{tmp_path}/x.yaml: not found (given by -c)"]
    with pytest.raises(ConfigError) as caught:
        find_config_path(None, {"PLANE_SYNC_CONFIG": str(tmp_path / "y.yaml")},
                         system_path=system)
    assert caught.value.problems == [
        f"{tmp_path}/y.yaml: not found (given by $PLANE_SYNC_CONFIG)"]


def test_load_config_of_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env=ENV)
    assert caught.value.problems == ["cannot read the file: Is a directory"]


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("PROJ-42", "PROJ-42"), ("PROJ-42 anything", "PROJ-42"), ("proj-42 x", "PROJ-42"),
     ("AB12-007 - minutes", "AB12-7"), ("notes", None), ("PROJ-42_x", None), ("PROJ-", None),
     ("TOOLONGPROJECT-1", None), ("-1", None), (" PROJ-1", None)],
)
def test_parse_subfolder_name(name: str, expected: str | None) -> None:
    assert parse_subfolder_name(name) == expected


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(30, 30.0), (0.5, 0.5), ("45", 45.0), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0),
     ("1m30s", 90.0), ("500ms", 0.5), ("2 minutes", 120.0), ("1d", 86400.0)],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "30x", "m", "", "1h-1m", True, None, [1]])
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("60/minute", (60, 60.0)), ("60/60s", (60, 60.0)), ("60/min", (60, 60.0)),
     ("1000/hour", (1000, 3600.0)), ("5 / 2m", (5, 120.0)), ("10/s", (10, 1.0))],
)
def test_rate_limits(raw: str, rate: tuple[int, float]) -> None:
    assert parse_rate_limit(raw) == rate


@pytest.mark.parametrize(
    ("raw", "size"),
    [(5242880, 5242880), ("5MiB", 5242880), ("5M", 5242880), ("100MB", 100_000_000),
     ("512 k", 524288), ("1.5GiB", 1610612736)],
)
def test_sizes(raw: object, size: int) -> None:
    assert parse_size(raw) == size


def test_uuid_target_is_lower_cased_and_identifier_upper_cased() -> None:
    text = PLANE + f"""\
folders:
  - path: /a
    project: {PROJECT_UUID.upper()}
    work_item: {ITEM_UUID.upper()}
  - path: /b
    work_item: web2-0042
"""
    first, second = parse(text).folders
    assert first.target == SingleTarget(project_id=PROJECT_UUID, work_item_id=ITEM_UUID)
    assert second.target == SingleTarget(identifier="WEB2-42")


def test_url_is_normalised_with_warnings() -> None:
    text = PLANE.replace("https://plane.example.com", "http://plane.lan:8080/api/v1/")
    config = parse(text + ONE_FOLDER)
    assert config.plane.url == "http://plane.lan:8080"
    assert config.warnings == (
        "plane.url: give the base URL without /api/v1; using http://plane.lan:8080",
        "plane.url: plain http sends the API key unencrypted; use https",
    )
    local = parse(PLANE.replace("https://plane.example.com", "http://127.0.0.1:8000/")
                  + ONE_FOLDER)
    assert (local.plane.url, local.warnings) == ("http://127.0.0.1:8000", ())


def test_plane_extras(tmp_path: Path) -> None:
    bundle = _write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n", 0o644)
    text = PLANE + f"""\
  ca_bundle: {bundle}
  timeout: 1m
  rate_limit: 120/minute
  external_source: laptop-sync
  file_size_limit: 10MiB
  recheck_share: 5%
  upload_workers: 8
  max_upload_rate: 2MiB
""" + ONE_FOLDER + "log:\n  level: DEBUG\n  format: json\n"
    config = parse(text)
    plane = config.plane
    assert (plane.ca_bundle, plane.timeout, plane.rate_limit) == (bundle, 60.0, (120, 60.0))
    assert (plane.recheck_share, plane.upload_workers, plane.max_upload_rate) == (
        0.05, 8, 2 * 1024 * 1024)
    defaults = parse(PLANE + ONE_FOLDER).plane
    assert (defaults.recheck_share, defaults.upload_workers, defaults.max_upload_rate) == (
        0.10, 4, None)
    assert parse(PLANE + "  recheck_share: 0.25\n" + ONE_FOLDER).plane.recheck_share == 0.25
    assert (plane.external_source, plane.file_size_limit) == ("laptop-sync", 10 * 1024 * 1024)
    assert (config.log.level, config.log.format) == ("debug", "json")
    missing = PLANE + f"  ca_bundle: {tmp_path / 'nope.pem'}\n" + ONE_FOLDER
    assert problems_of(missing) == [f"plane.ca_bundle: {tmp_path / 'nope.pem'} is not a file"]


# --- defaults: and per-folder overrides ----------------------------------------------------


def test_defaults_apply_and_folders_override_them() -> None:
    text = PLANE + """\
defaults:
  include: ["*.pdf"]
  exclude: ["*.bak"]
  recurse: false
  on_change: keep
  on_delete: delete
  watch: poll
  poll_interval: 2m
  settle: 0
  rescan_interval: 1h
folders:
  - path: /a
    work_item: PROJ-1
  - path: /b
    work_item: PROJ-2
    include: ["*.docx", "*.xlsx"]
    exclude: ["tmp/*"]
    on_delete: keep
    watch: inotify
    settle: 3
  - path: /c
    work_item: PROJ-3
    exclude_defaults: false
"""
    inherits, overrides, bare = parse(text).folders
    assert inherits.include == ("*.pdf",)
    assert inherits.exclude == (*DEFAULT_EXCLUDES, "*.bak")
    assert (inherits.recurse, inherits.on_change, inherits.on_delete, inherits.watch) == (
        False, "keep", "delete", "poll")
    assert (inherits.poll_interval, inherits.settle, inherits.rescan_interval) == (
        120.0, 0.0, 3600.0)
    assert overrides.include == ("*.docx", "*.xlsx")  # include replaces
    assert overrides.exclude == (*DEFAULT_EXCLUDES, "*.bak", "tmp/*")  # exclude adds
    assert (overrides.on_delete, overrides.watch, overrides.settle) == ("keep", "inotify", 3.0)
    assert overrides.on_change == "keep"
    assert bare.exclude == ("*.bak",)  # built-ins dropped, user patterns stay


def test_defaults_may_drop_the_builtin_excludes_for_every_folder() -> None:
    text = PLANE + "defaults:\n  exclude_defaults: false\n" + ONE_FOLDER
    assert parse(text).folders[0].exclude == ()


def test_folder_keys_are_stable_short_and_distinct() -> None:
    text = PLANE + "folders:\n  - path: /x/PROJ-1\n    work_item: P-1\n" \
        "  - path: /y/PROJ-1\n    work_item: P-2\n"
    first, second = parse(text).folders
    again = parse(text).folders[0]
    assert first.key == again.key
    assert first.key != second.key
    assert first.key.startswith("PROJ-1-") and len(first.key) <= 40


def test_config_is_frozen() -> None:
    config = parse(PLANE + ONE_FOLDER)
    with pytest.raises(AttributeError):
        config.folders[0].recurse = False  # type: ignore[misc]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", PLANE + ONE_FOLDER, 0o000)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == ["cannot read the file: Permission denied"]


def test_a_symlink_into_another_folder_counts_as_nesting(tmp_path: Path) -> None:
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "inner")
    text = PLANE + f"folders:\n  - path: {tmp_path / 'real'}\n    work_item: P-1\n" \
        f"  - path: {tmp_path / 'link'}\n    work_item: P-2\n"
    assert problems_of(text) == [
        f"folders[1].path: {tmp_path / 'link'} is inside folders[0] ({tmp_path / 'real'}); "
        "nested folders would sync files twice"]


_yaml_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.text(max_size=12), st.sampled_from(["PROJ-1", "1m", "${X}", "${",
                                                               "subfolders", "/a", "~"]))
_yaml_value = st.recursive(
    _yaml_leaf,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["path", "work_item", "url", "plane", "folders",
                                       "include", "x"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(plane=_yaml_value, folders=_yaml_value, defaults=_yaml_value, log=_yaml_value)
def test_any_shape_gives_a_config_or_a_config_error(plane: object, folders: object,
                                                    defaults: object, log: object) -> None:
    text = yaml.safe_dump({"plane": plane, "folders": folders, "defaults": defaults,
                           "log": log})
    try:
        parse(text)
    except ConfigError as error:
        assert error.problems
        assert all(isinstance(problem, str) and problem for problem in error.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse(text)
    except ConfigError as error:
        assert error.problems


def test_control_characters_are_a_yaml_problem_with_a_place() -> None:
    assert problems_of("plane:\n  url: a\x08b\n") == [
        "line 2, column 9: character #x0008 is not allowed in YAML"]


@pytest.mark.parametrize(
    "text",
    ["plane:\n  api_key: plane_api_SECRET: x\n", 'plane:\n  api_key: "plane_api_SECRET\n',
     "plane:\n  api_key: *plane_api_SECRET\n", "plane:\n  api_key: [plane_api_SECRET\n"],
)
def test_yaml_errors_never_quote_the_key(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert "SECRET" not in str(caught.value)
    assert caught.value.problems[0].startswith("line ")


def test_an_unclosed_quote_says_where_it_started() -> None:
    assert problems_of('plane:\n  url: "https://x\nfolders: []\n') == [
        "line 4, column 1: YAML syntax error: found unexpected end of stream "
        "(while scanning a quoted scalar that starts at line 2, column 8)"]


def test_rehash_interval_may_be_zero_and_io_timeout_may_not() -> None:
    text = PLANE + ONE_FOLDER + "    rehash_interval: 0\n    io_timeout: 5s\n"
    (folder,) = parse(text).folders
    assert (folder.rehash_interval, folder.io_timeout) == (0.0, 5.0)
    with pytest.raises(ConfigError, match=r"folders\[0\]\.io_timeout: must be more than zero"):
        parse(PLANE + ONE_FOLDER + "    io_timeout: 0\n")


def test_status_loads_the_config_without_resolving_folder_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung share would hang realpath(): status must not call it on a folder."""
    config = tmp_path / "c.yaml"
    config.write_text(PLANE + ONE_FOLDER)
    resolved: list[str] = []
    real = os.path.realpath

    def spy(path: object, *args: object, **kwargs: object) -> str:
        resolved.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type,call-overload]

    monkeypatch.setattr(os.path, "realpath", spy)
    folder = load_config(config, env=ENV, touch_folders=False).folders[0].path
    assert str(folder) not in resolved
    load_config(config, env=ENV)
    assert str(folder) in resolved  # the other commands compare real paths


def test_direction_and_trash_keep_are_read_and_checked(tmp_path: Path) -> None:
    from plane_sync.config.load import load_config as _load
    from plane_sync.errors import ConfigError
    folder = tmp_path / "d"
    folder.mkdir()
    base = ("plane: {url: 'https://plane.example.com', api_key: k, workspace: w}\n"
            f"state_dir: {tmp_path / 's'}\n")
    ok = tmp_path / "ok.yaml"
    ok.write_text(base + "defaults: {direction: both, trash_keep: 7d}\n"
                  f"folders: [{{path: {folder}, work_item: P-1}}, "
                  f"{{path: {tmp_path}, work_item: P-2, direction: up}}]\n".replace(
                      f"path: {tmp_path},", f"path: {tmp_path / 'e'},"))
    (tmp_path / "e").mkdir()
    config = _load(ok, env={})
    assert [f.direction for f in config.folders] == ["both", "up"]
    assert config.folders[0].trash_keep == 7 * 86400
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + f"folders: [{{path: {folder}, work_item: P-1, direction: down, "
                   "trash_keep: 400d}]\n")
    with pytest.raises(ConfigError) as err:
        _load(bad, env={})
    assert "folders[0].direction" in str(err.value) and "folders[0].trash_keep" in str(err.value)
