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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar, cast

from plane_sync.config.folders import (
    SETTING_KEYS,
    Resolve,
    Settings,
    check_folder_overlaps,
    check_secret_files,
    read_folders,
    read_settings,
)
from plane_sync.config.metrics import read_metrics
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
from plane_sync.config.url import check_plane_url
from plane_sync.config.values import (
    MAX_TIMEOUT,
    MAX_UPLOAD_WORKERS,
    looks_like_api_key,
    parse_count,
    parse_rate_limit,
    parse_share,
    parse_size,
    parse_subfolder_name,
    show,
)
from plane_sync.errors import ConfigError

__all__ = [
    "DEFAULT_EXCLUDES", "Config", "FolderConfig", "LogFormat", "LogSettings", "OnChange",
    "OnDelete", "PlaneSettings", "SingleTarget", "SubfolderTarget", "WatchMode",
    "default_state_dir", "find_config_path", "load_config", "parse_config",
    "parse_subfolder_name",
]  # fmt: skip


T = TypeVar("T")

SYSTEM_CONFIG_PATH = Path("/etc/plane-sync/config.yaml")
MAX_CONFIG_BYTES = 1024 * 1024  # a real one is a few KiB; with the YAML caps, bounds the time
INTERNAL_ERROR = "internal error while reading the configuration"


_TOP_KEYS = ("plane", "state_dir", "defaults", "folders", "log", "metrics")
_PLANE_KEYS = ("url", "api_key", "api_key_file", "workspace", "ca_bundle", "timeout",
               "rate_limit", "external_source", "file_size_limit", "recheck_share",
               "upload_workers", "max_upload_rate")
_LOG_KEYS = ("level", "format")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_WORKSPACE_SLUG = re.compile(r"[A-Za-z0-9_-]+")


def find_config_path(cli_path: str | None, env: Mapping[str, str] = os.environ, *,
                     system_path: Path = SYSTEM_CONFIG_PATH) -> Path:
    """The config file to load; an explicit choice (-c, $PLANE_SYNC_CONFIG) must exist."""
    home = env.get("HOME") or os.path.expanduser("~")
    cwd = Path.cwd()
    for origin, chosen in (("-c", cli_path), ("$PLANE_SYNC_CONFIG", env.get("PLANE_SYNC_CONFIG"))):
        if chosen:
            try:
                path = expand_path(chosen, env, cwd)
            except ValueError as exc:
                raise ConfigError([f"{exc} (given by {origin})"]) from None
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
    text, mode = _read_config_file(path)
    return _build(text, source=str(path), env=env, base_dir=path.parent, file_mode=mode,
                  resolve=os.path.realpath if touch_folders else os.path.abspath)


def _read_config_file(path: Path) -> tuple[str, int]:
    """The text and mode of a regular file of at most ``MAX_CONFIG_BYTES``. Opened without
    blocking: a FIFO put in the config's place must not hang a reload."""
    def refuse(problem: str) -> ConfigError:
        return ConfigError([problem], source=str(path))

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise refuse("cannot read the file: Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file (a pipe, device or socket cannot be a "
                         "configuration)")
        if info.st_size > MAX_CONFIG_BYTES:
            raise refuse(_too_big(info.st_size))
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise refuse(_too_big(len(data)))
    try:
        return data.decode("utf-8"), info.st_mode
    except UnicodeDecodeError:
        raise refuse("the file is not UTF-8 text") from None


def _too_big(size: int) -> str:
    return (f"the file is {size / 1024 / 1024:.1f} MiB; a configuration may be at most "
            f"{MAX_CONFIG_BYTES // 1024 // 1024} MiB (is this the right file?)")


def parse_config(text: str, *, source: str = "<config>", env: Mapping[str, str] = os.environ,
                 base_dir: Path | None = None) -> Config:
    """Parse config text; relative paths are relative to ``base_dir`` (default: cwd)."""
    if len(text) > MAX_CONFIG_BYTES:  # characters: at least as many bytes
        raise ConfigError([_too_big(len(text))], source=source)
    return _build(text, source=source, env=env, base_dir=base_dir or Path.cwd(), file_mode=None)


def _build(text: str, *, source: str, env: Mapping[str, str], base_dir: Path,
           file_mode: int | None, resolve: Resolve = os.path.realpath) -> Config:
    """Every problem of the text, or the Config; nothing else ever leaves. An unexpected
    exception is a bug, but its traceback could quote the API key and, in a reload, it
    would stop the daemon: it becomes a config error too."""
    try:
        return _assemble(text, source=source, env=env, base_dir=base_dir, file_mode=file_mode,
                         resolve=resolve)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError([f"{INTERNAL_ERROR} ({type(exc).__name__}); please report it"],
                          source=source) from None


def _assemble(text: str, *, source: str, env: Mapping[str, str], base_dir: Path,
               file_mode: int | None, resolve: Resolve) -> Config:
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
    state_dir = root.path("state_dir") or default_state_dir(env)
    defaults_section = root.section("defaults")
    if defaults_section is not None:
        defaults_section.check_keys(SETTING_KEYS)
    defaults = read_settings(defaults_section, Settings())
    folders = read_folders(root, defaults)
    check_folder_overlaps(folders, state_dir, problems, resolve=resolve)
    check_secret_files(folders, secret_files, problems, resolve=resolve)
    log = _read_log(root.section("log"))
    metrics = read_metrics(root, warnings)
    if problems or plane is None:
        raise ConfigError(problems.items, source=source)
    return Config(plane=plane, state_dir=state_dir, folders=tuple(f for f, _ in folders),
                  log=log, source=Path(source), warnings=tuple(warnings), metrics=metrics)


def default_state_dir(env: Mapping[str, str]) -> Path:
    """``$STATE_DIRECTORY`` under a systemd unit with ``StateDirectory=`` (the server
    unit's /var/lib/plane-sync), else ``$XDG_STATE_HOME/plane-sync``."""
    systemd_dirs = env.get("STATE_DIRECTORY", "")
    if systemd_dirs and os.path.isabs(systemd_dirs.split(":")[0]):
        return Path(systemd_dirs.split(":")[0])
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
    timeout = sec.seconds("timeout", 30.0, maximum=MAX_TIMEOUT)
    rate_limit: tuple[int, float] | None = None
    ok, raw_rate = sec.scalar("rate_limit")
    if ok and raw_rate is not None:
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
    recheck_share = _optional(sec, "recheck_share", parse_share, 0.10)
    upload_workers = _optional(
        sec, "upload_workers", lambda v: parse_count(v, least=1, most=MAX_UPLOAD_WORKERS), 4)
    max_upload_rate = _optional(sec, "max_upload_rate", parse_size, None)
    if url is None or workspace is None or api_key is None:
        return None
    return PlaneSettings(url=url, api_key=api_key, workspace=workspace, ca_bundle=ca_bundle,
                         timeout=timeout, rate_limit=rate_limit, external_source=external_source,
                         file_size_limit=file_size_limit, recheck_share=recheck_share,
                         upload_workers=upload_workers, max_upload_rate=max_upload_rate)


def _optional(sec: Section, key: str, parse: Callable[[object], T], default: T) -> T:
    """``key`` parsed, or ``default`` when it is absent or null (a problem is noted)."""
    ok, raw = sec.scalar(key)
    if not ok or raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        sec.problem(key, str(exc))
        return default


def _read_url(sec: Section, warnings: list[str]) -> str | None:
    raw = sec.text("url", required=True)
    if raw is None:
        return None
    try:
        url, notes = check_plane_url(raw)
    except ValueError as exc:
        sec.problem("url", str(exc))
        return None
    warnings.extend(f"{sec.at('url')}: {note}" for note in notes)
    return url


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
