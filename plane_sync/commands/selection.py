"""Which configured folders a command's FOLDER arguments name (by path or work item)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from plane_sync.config.types import Config
from plane_sync.errors import ConfigError
from plane_sync.sync.targets import Target


def folder_selection(config: Config, names: Sequence[str], *, option: str,
                     empty_means_all: bool) -> Callable[[Target], bool]:
    """A predicate over targets: every one for ``*`` (or no names when ``empty_means_all``),
    else those at or under a named path, or mapped to a named work item. A name that matches
    no configured folder is a usage error (exit 2) naming it."""
    if not names:
        return lambda target: empty_means_all
    if "*" in names:
        return lambda target: True
    paths: list[Path] = []
    labels: set[str] = set()
    for name in names:
        path = Path(name).expanduser().absolute()
        if any(path == f.path or path.is_relative_to(f.path) for f in config.folders):
            paths.append(path)
        elif any(name.upper() == str(getattr(f.target, "identifier", "") or "").upper()
                 for f in config.folders):
            labels.add(name.upper())
        else:
            raise ConfigError([f"{option} {name}: no configured folder is (or holds) that "
                               "path or maps to that work item"], source=str(config.source))
    return lambda target: (target.label.upper() in labels or any(
        target.root == p or target.root.is_relative_to(p) or p.is_relative_to(target.root)
        for p in paths))
