"""Where a daemon keeps its state, read without the API key and without touching a folder.

``status``, ``pause``, ``resume`` and ``rescan`` only talk to the daemon (its control socket
lives in the state directory) or read its database, so they read no more of the config than
``state_dir`` and the folder paths: a missing ``$PLANE_API_KEY`` or an unmounted share must
not stop anyone from looking. Nothing here stats a folder.

Which state directory: the config's ``state_dir``; else ``$STATE_DIRECTORY`` (set by systemd
for a unit with ``StateDirectory=``); else, when the config found is the system one
(/etc/plane-sync/config.yaml), the server unit's /var/lib/plane-sync, so that an admin's
``plane-sync status`` finds the system daemon; else ``$XDG_STATE_HOME/plane-sync``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from plane_sync.config.load import SYSTEM_CONFIG_PATH, default_state_dir, find_config_path
from plane_sync.config.reader import Problems, Section, load_yaml
from plane_sync.errors import ConfigError

SYSTEM_STATE_DIR = Path("/var/lib/plane-sync")  # the server unit's StateDirectory=


@dataclass(frozen=True)
class StateLocation:
    state_dir: Path
    source: Path
    folders: tuple[Path, ...]  # the configured folder paths, as written (expanded)


def locate_state(cli_path: str | None, env: Mapping[str, str] = os.environ, *,
                 system_path: Path = SYSTEM_CONFIG_PATH,
                 system_state_dir: Path = SYSTEM_STATE_DIR) -> StateLocation:
    path = find_config_path(cli_path, env, system_path=system_path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], source=str(path)) from None
    problems = Problems()
    data = load_yaml(text, problems)
    if problems:
        raise ConfigError(problems.items, source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping (plane:, folders:, ...)"],
                          source=str(path))
    root = Section(data, "", problems, env, path.parent)
    state_dir = root.path("state_dir")
    folders = _folder_paths(root)
    if problems:
        raise ConfigError(problems.items, source=str(path))
    if state_dir is None:
        if path == system_path and not env.get("STATE_DIRECTORY"):
            state_dir = system_state_dir
        else:
            state_dir = default_state_dir(env)
    return StateLocation(state_dir=state_dir, source=path, folders=folders)


def _folder_paths(root: Section) -> tuple[Path, ...]:
    entries = root.data.get("folders")
    if not isinstance(entries, list):
        return ()
    found: list[Path] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            sec = Section(entry, f"folders[{index}]", root.problems, root.env, root.base_dir)
            path = sec.path("path")
            if path is not None:
                found.append(path)
    return tuple(found)
