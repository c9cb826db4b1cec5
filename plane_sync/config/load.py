"""YAML configuration -> frozen ``Config``. Every problem is collected, then raised once.

Where the file is found: ``-c FILE``, else ``$PLANE_SYNC_CONFIG``, else
``$XDG_CONFIG_HOME/plane-sync/config.yaml`` (default ``~/.config``), else
``/etc/plane-sync/config.yaml``. ``config.example.yaml`` at the top of the repository
documents every key. The value parsers live in ``values``, the checked reading of
YAML mappings in ``reader``, the result types in ``types`` and the folder
sections in ``folders``; this module finds, loads and assembles.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from plane_sync.config.folders import (
    SETTING_KEYS,
    Resolve,
    Settings,
    check_folder_overlaps,
    check_secret_files,
    read_folders,
    read_settings,
)
from plane_sync.config.reader import Problems, Section, expand_path, load_yaml
from plane_sync.config.types import (
    DEFAULT_EXCLUDES,
    Config,
    FolderConfig,
    LogFormat,
    LogSettings,
    OnChange,
    OnDelete,
    PlaneSettings,
    SingleTarget,
    SubfolderTarget,
    WatchMode,
)
from plane_sync.config.values import (
    looks_like_api_key,
    parse_rate_limit,
    parse_size,
    parse_subfolder_name,
    show,
)
from plane_sync.errors import ConfigError

__all__ = [
    "DEFAULT_EXCLUDES", "Config", "FolderConfig", "LogFormat", "LogSettings", "OnChange",
    "OnDelete", "PlaneSettings", "SingleTarget", "SubfolderTarget", "WatchMode",
    "find_config_path", "load_config", "parse_config", "parse_subfolder_name",
]  # fmt: skip


SYSTEM_CONFIG_PATH = Path("/etc/plane-sync/config.yaml")


_TOP_KEYS = ("plane", "state_dir", "defaults", "folders", "log")
_PLANE_KEYS = ("url", "api_key", "api_key_file", "workspace", "ca_bundle", "timeout",
               "rate_limit", "external_source", "file_size_limit")
_LOG_KEYS = ("level", "format")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_WORKSPACE_SLUG = re.compile(r"[A-Za-z0-9_-]+")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def find_config_path(cli_path: str | None, env: Mapping[str, str] = os.environ, *,
                     system_path: Path = SYSTEM_CONFIG_PATH) -> Path:
    """The config file to load; an explicit choice (-c, $PLANE_SYNC_CONFIG) must exist."""
    home = env.get("HOME") or os.path.expanduser("~")
    cwd = Path.cwd()
    for origin, chosen in (("-c", cli_path), ("$PLANE_SYNC_CONFIG", env.get("PLANE_SYNC_CONFIG"))):
        if chosen:
            path = expand_path(chosen, env, cwd)
            if path.is_dir():
                raise ConfigError([f"{path}: is a directory, not a config file "
                                   f"(given by {origin})"])
            if not path.is_file():
                raise ConfigError([f"{path}: not found (given by {origin})"])
            return path
    config_home = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(config_home):  # the XDG spec says to ignore relative values
        config_home = os.path.join(home, ".config")
    candidates = [Path(config_home) / "plane-sync" / "config.yaml", system_path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        [f"{candidate}: not found" for candidate in candidates]
        + [f"copy config.example.yaml (every key, with comments) to {candidates[0]}, "
           "or pass -c FILE or set $PLANE_SYNC_CONFIG; `plane-sync demo` needs no config"]
    )


def load_config(path: Path, env: Mapping[str, str] = os.environ, *,
                touch_folders: bool = True) -> Config:
    """``touch_folders=False`` (``status``): folder paths are compared as written, never
    resolved on disk, so that a hung share cannot hang the command."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], source=str(path)) from None
    return _build(text, source=str(path), env=env, base_dir=path.parent, file_mode=mode,
                  resolve=os.path.realpath if touch_folders else os.path.abspath)


def parse_config(text: str, *, source: str = "<config>", env: Mapping[str, str] = os.environ,
                 base_dir: Path | None = None) -> Config:
    """Parse config text; relative paths are relative to ``base_dir`` (default: cwd)."""
    return _build(text, source=source, env=env, base_dir=base_dir or Path.cwd(), file_mode=None)


def _build(text: str, *, source: str, env: Mapping[str, str], base_dir: Path,
           file_mode: int | None, resolve: Resolve = os.path.realpath) -> Config:
    problems = Problems()
    warnings: list[str] = []
    data = load_yaml(text, problems)
    if problems and data is None:
        raise ConfigError(problems.items, source=source)
    if data is None:
        raise ConfigError(["the file is empty (config.example.yaml shows every key)"],
                          source=source)
    if not isinstance(data, dict):
        raise ConfigError([f"the top level must be a mapping (plane:, folders:, ...), "
                           f"got {show(data)}"], source=source)
    root = Section(data, "", problems, env, base_dir)
    root.check_keys(_TOP_KEYS)
    secret_files: list[tuple[str, Path, str]] = []
    plane = _read_plane(root, warnings, file_mode, source, secret_files)
    state_dir = root.path("state_dir") or _default_state_dir(env)
    defaults_section = root.section("defaults")
    if defaults_section is not None:
        defaults_section.check_keys(SETTING_KEYS)
    defaults = read_settings(defaults_section, Settings())
    folders = read_folders(root, defaults)
    check_folder_overlaps(folders, state_dir, problems, resolve=resolve)
    check_secret_files(folders, secret_files, problems, resolve=resolve)
    log = _read_log(root.section("log"))
    if problems or plane is None:
        raise ConfigError(problems.items, source=source)
    return Config(plane=plane, state_dir=state_dir, folders=tuple(f for f, _ in folders),
                  log=log, source=Path(source), warnings=tuple(warnings))


def _default_state_dir(env: Mapping[str, str]) -> Path:
    state_home = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state_home):
        state_home = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(state_home) / "plane-sync"


# --- plane: -------------------------------------------------------------------------------


def _read_plane(root: Section, warnings: list[str], file_mode: int | None,
                source: str, secret_files: list[tuple[str, Path, str]]) -> PlaneSettings | None:
    sec = root.section("plane", required=True)
    if sec is None:
        return None
    sec.check_keys(_PLANE_KEYS)
    url = _read_url(sec, warnings)
    workspace = sec.text("workspace", required=True)
    if workspace is not None and not _WORKSPACE_SLUG.fullmatch(workspace):
        sec.problem("workspace", f"{show(workspace)} is not a workspace slug "
                    "(the part after the host in Plane's web address, e.g. acme)")
        workspace = None
    api_key = _read_api_key(sec, warnings, file_mode, source, secret_files)
    ca_bundle = sec.path("ca_bundle")
    if ca_bundle is not None and not ca_bundle.is_file():
        sec.problem("ca_bundle", f"{ca_bundle} is not a file")
    timeout = sec.seconds("timeout", 30.0)
    rate_limit = (60, 60.0)
    ok, raw_rate = sec.scalar("rate_limit")
    if ok and "rate_limit" in sec:
        try:
            rate_limit = parse_rate_limit(raw_rate)
        except ValueError as exc:
            sec.problem("rate_limit", str(exc))
    external_source = sec.text("external_source")
    if external_source is None:
        external_source = "plane-sync"
    elif not external_source.strip() or len(external_source) > 255:
        sec.problem("external_source", "must be 1 to 255 characters")
    file_size_limit = None
    ok, raw_size = sec.scalar("file_size_limit")
    if ok and raw_size is not None:
        try:
            file_size_limit = parse_size(raw_size)
        except ValueError as exc:
            sec.problem("file_size_limit", str(exc))
    if url is None or workspace is None or api_key is None:
        return None
    return PlaneSettings(url=url, api_key=api_key, workspace=workspace, ca_bundle=ca_bundle,
                         timeout=timeout, rate_limit=rate_limit, external_source=external_source,
                         file_size_limit=file_size_limit)


def _read_url(sec: Section, warnings: list[str]) -> str | None:
    raw = sec.text("url", required=True)
    if raw is None:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        sec.problem("url", f"{show(raw)} is not an http(s) URL")
        return None
    if parts.query or parts.fragment:
        sec.problem("url", f"{show(raw)} must not have a query or fragment")
        return None
    path = parts.path.rstrip("/")
    if path.endswith("/api/v1") or path.endswith("/api"):
        path = path.rsplit("/api", 1)[0]
        warnings.append(f"{sec.at('url')}: give the base URL without /api/v1; "
                        f"using {parts.scheme}://{parts.netloc}{path}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        warnings.append(f"{sec.at('url')}: plain http sends the API key unencrypted; "
                        "use https")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _read_api_key(sec: Section, warnings: list[str], file_mode: int | None,
                  source: str, secret_files: list[tuple[str, Path, str]]) -> str | None:
    """The key; files that hold it go to ``secret_files`` (they must never be synced)."""
    if "api_key" in sec and "api_key_file" in sec:
        sec.problem(None, "give either api_key or api_key_file, not both")
        return None
    if "api_key" not in sec and "api_key_file" not in sec:
        sec.problem(None, "missing api_key (e.g. ${PLANE_API_KEY}) or api_key_file")
        return None
    if "api_key" in sec:
        key = sec.text("api_key", required=True, secret=True)
        place = "api_key"
        if key is not None and file_mode is not None and "api_key" in sec.literal_secrets:
            secret_files.append((sec.at(place), Path(source),
                                 "this config file, which holds the API key"))
        if key is not None and file_mode is not None and "api_key" in sec.literal_secrets \
                and file_mode & stat.S_IROTH:
            warnings.append(f"{source}: every user can read this file and it holds the API key; "
                            f"run chmod 600 {source}, or use api_key_file or ${{PLANE_API_KEY}}")
    else:
        place = "api_key_file"
        key_file = sec.path("api_key_file", required=True)
        if key_file is None:
            return None
        try:
            key = key_file.read_text(encoding="utf-8").strip()
            mode = key_file.stat().st_mode
        except OSError as exc:
            sec.problem(place, f"cannot read {key_file}: {exc.strerror}")
            return None
        except UnicodeDecodeError:
            sec.problem(place, f"{key_file} is not UTF-8 text")
            return None
        secret_files.append((sec.at(place), key_file, "the API key file"))
        if mode & stat.S_IROTH:
            warnings.append(f"{sec.at(place)}: every user can read {key_file}, which holds "
                            f"the API key; run chmod 600 {key_file}")
    if key is None:
        return None
    key = key.strip()
    if not key:
        sec.problem(place, "the API key is empty")
        return None
    if any(ch.isspace() for ch in key):
        sec.problem(place, "the API key contains whitespace; check the value")
        return None
    if not looks_like_api_key(key):
        warnings.append(f"{sec.at(place)}: does not look like a Plane API key "
                        "(plane_api_ followed by hex digits); using it anyway")
    return key


# --- log: ---------------------------------------------------------------------------------


def _read_log(sec: Section | None) -> LogSettings:
    if sec is None:
        return LogSettings()
    sec.check_keys(_LOG_KEYS)
    level = sec.choice("level", _LOG_LEVELS, "info")
    log_format = sec.choice("format", ("auto", "console", "json"), "auto")
    return LogSettings(level=level, format=cast(LogFormat, log_format))
