"""The ``defaults:`` and ``folders:`` sections: per-folder settings, targets and overlaps."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from plane_sync.config.reader import Problems, Section
from plane_sync.config.types import (
    DEFAULT_EXCLUDES,
    DEFAULT_IO_TIMEOUT,
    DEFAULT_REHASH_INTERVAL,
    FolderConfig,
    OnChange,
    OnDelete,
    SingleTarget,
    SubfolderTarget,
    WatchMode,
)
from plane_sync.config.values import (
    MAX_IO_TIMEOUT,
    MAX_POLL_INTERVAL,
    MAX_REHASH_INTERVAL,
    MAX_RESCAN_INTERVAL,
    MAX_SETTLE,
    identifier_number_problem,
    normalize_identifier,
    normalize_uuid,
    show,
)
from plane_sync.local.ignore import IgnoreRules

SETTING_KEYS = ("include", "exclude", "exclude_defaults", "recurse", "on_change", "on_delete",
                "watch", "poll_interval", "settle", "rescan_interval", "rehash_interval",
                "io_timeout")
FOLDER_KEYS = ("path", "work_item", "work_items", "project", *SETTING_KEYS)


@dataclass(frozen=True)
class Settings:
    """Per-folder settings as inherited from built-ins, then ``defaults:``, then the folder."""

    include: tuple[str, ...] = ("*",)
    extra_exclude: tuple[str, ...] = ()
    exclude_defaults: bool = True
    recurse: bool = True
    on_change: str = "replace"
    on_delete: str = "keep"
    watch: str = "auto"
    poll_interval: float = 30.0
    settle: float = 2.0
    rescan_interval: float = 600.0
    rehash_interval: float = DEFAULT_REHASH_INTERVAL
    io_timeout: float = DEFAULT_IO_TIMEOUT


def read_settings(sec: Section | None, inherited: Settings) -> Settings:
    """Settings in ``sec`` over ``inherited``: include replaces, exclude adds."""
    if sec is None:
        return inherited
    include = sec.globs("include")
    if sec.data.get("include") == []:
        sec.problem("include", "an empty list would sync nothing; leave it out to include all")
    if not include:
        include = None
    return Settings(
        include=include if include is not None else inherited.include,
        extra_exclude=inherited.extra_exclude + (sec.globs("exclude") or ()),
        exclude_defaults=sec.flag("exclude_defaults", inherited.exclude_defaults),
        recurse=sec.flag("recurse", inherited.recurse),
        on_change=sec.choice("on_change", ("replace", "keep"), inherited.on_change),
        on_delete=sec.choice("on_delete", ("keep", "delete"), inherited.on_delete),
        watch=sec.choice("watch", ("auto", "inotify", "poll"), inherited.watch),
        poll_interval=sec.seconds("poll_interval", inherited.poll_interval,
                                  maximum=MAX_POLL_INTERVAL),
        settle=sec.seconds("settle", inherited.settle, maximum=MAX_SETTLE, allow_zero=True),
        rescan_interval=sec.seconds("rescan_interval", inherited.rescan_interval,
                                    maximum=MAX_RESCAN_INTERVAL),
        rehash_interval=sec.seconds("rehash_interval", inherited.rehash_interval,
                                    maximum=MAX_REHASH_INTERVAL, allow_zero=True),
        io_timeout=sec.seconds("io_timeout", inherited.io_timeout, maximum=MAX_IO_TIMEOUT),
    )


def read_folders(root: Section, defaults: Settings) -> list[tuple[FolderConfig, str]]:
    """Valid folders with their place; invalid ones are left out after noting why."""
    if "folders" not in root:
        root.problem("folders", "missing (list the folders to sync)")
        return []
    entries = root.data["folders"]
    if not isinstance(entries, list):
        root.problem("folders", f"expected a list of folders, got {show(entries)}")
        return []
    if not entries:
        root.problem("folders", "the list is empty; add at least one folder")
        return []
    folders: list[tuple[FolderConfig, str]] = []
    for index, entry in enumerate(entries):
        place = f"folders[{index}]"
        if not isinstance(entry, dict):
            root.problems.add(place, f"expected a mapping with path: and work_item:, "
                              f"got {show(entry)}")
            continue
        sec = Section(entry, place, root.problems, root.env, root.base_dir)
        sec.check_keys(FOLDER_KEYS)
        path = sec.path("path", required=True)
        target = _read_target(sec)
        settings = read_settings(sec, defaults)
        if path is None or target is None:
            continue
        builtin = DEFAULT_EXCLUDES if settings.exclude_defaults else ()
        folder = FolderConfig(
            path=path, target=target, include=settings.include,
            exclude=tuple(dict.fromkeys(builtin + settings.extra_exclude)),
            recurse=settings.recurse, on_change=cast(OnChange, settings.on_change),
            on_delete=cast(OnDelete, settings.on_delete), watch=cast(WatchMode, settings.watch),
            poll_interval=settings.poll_interval, settle=settings.settle,
            rescan_interval=settings.rescan_interval, key=_folder_key(path),
            rehash_interval=settings.rehash_interval, io_timeout=settings.io_timeout,
        )
        folders.append((folder, place))
    return folders


def _read_target(sec: Section) -> SingleTarget | SubfolderTarget | None:
    has_one, has_many = "work_item" in sec, "work_items" in sec
    if has_one and has_many:
        sec.problem(None, "give either work_item or work_items: subfolders, not both")
        return None
    if has_many:
        if "project" in sec:
            sec.problem("project", "only goes with a work_item UUID, not with work_items")
        if sec.choice("work_items", ("subfolders",), "") != "subfolders":
            return None
        return SubfolderTarget()
    if not has_one:
        sec.problem(None, "missing work_item (e.g. PROJ-12) or work_items: subfolders")
        return None
    text = sec.text("work_item", required=True)
    if text is None:
        return None
    identifier, work_item_id = normalize_identifier(text), normalize_uuid(text)
    if "project" not in sec:
        if identifier is not None:
            return SingleTarget(identifier=identifier)
        if work_item_id is not None:
            sec.problem(None, "a work_item UUID needs project: <project UUID> as well")
        else:
            sec.problem("work_item", _identifier_problem(text))
        return None
    project_text = sec.text("project", required=True)
    project_id = normalize_uuid(project_text) if project_text is not None else None
    if project_text is not None and project_id is None:
        sec.problem("project", f"{show(project_text)} is not a project UUID")
    if identifier is not None:
        sec.problem("project", f"leave it out: {identifier} already names its project "
                    "(project: goes with a work_item UUID)")
        return None
    if work_item_id is None:
        sec.problem("work_item", f"{show(text)} is not a work item UUID")
    if project_id is None or work_item_id is None:
        return None
    return SingleTarget(project_id=project_id, work_item_id=work_item_id)


def _identifier_problem(text: str) -> str:
    """Why ``text`` (not a UUID, not accepted as an identifier) names no work item."""
    project, dash, number = text.rpartition("-")
    if dash and number.isdigit() and normalize_identifier(f"{project}-1") is not None:
        return f"{show(text)}: {identifier_number_problem(number)}"
    return f"{show(text)} is not an identifier like PROJ-12"


def _folder_key(path: Path) -> str:
    """Readable and stable: "<folder name>-<10 hex of the path's sha256>"."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:24] or "root"
    return f"{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def _target_label(target: SingleTarget | SubfolderTarget) -> str | None:
    if isinstance(target, SingleTarget):
        return target.identifier or target.work_item_id
    return None


Resolve = Callable[[Path], str]


def check_folder_overlaps(folders: list[tuple[FolderConfig, str]], state_dir: Path,
                           problems: Problems, *, resolve: Resolve = os.path.realpath) -> None:
    """Each file must belong to one folder, and each work item to one folder.

    Each folder is compared with the earlier ones through dictionaries (its path, every
    parent of it, its work item), not pair by pair: thousands of folders (an alias can make
    them) take milliseconds, and each conflict is named once, against the first folder.
    ``resolve`` gives a folder's real path (``os.path.abspath`` where folders must not be
    touched)."""
    # Compare real paths too, so that a symlink to another folder is caught as well.
    real = [Path(resolve(folder.path)) for folder, _ in folders]
    by_path: dict[Path, int] = {}  # a folder's path and real path -> its first index
    by_real: dict[Path, int] = {}
    by_parent: dict[Path, int] = {}  # every parent of a real path -> first folder below it
    by_label: dict[str, int] = {}
    real_state_dir = Path(resolve(state_dir))
    for index, (folder, place) in enumerate(folders):
        here = real[index]
        messages: dict[int, list[str]] = {}
        same = min((by_path[p] for p in (folder.path, here) if p in by_path), default=None)
        if same is not None:
            messages.setdefault(same, []).append(f"{place}.path: {folder.path} is already "
                                                 f"{folders[same][1]}.path")
        else:
            outer = min((by_real[p] for p in here.parents if p in by_real), default=None)
            if outer is not None:
                other, other_place = folders[outer]
                messages.setdefault(outer, []).append(
                    f"{place}.path: {folder.path} is inside {other_place} ({other.path}); "
                    "nested folders would sync files twice")
            inner = by_parent.get(here)
            if inner is not None:
                other, other_place = folders[inner]
                messages.setdefault(inner, []).append(
                    f"{place}.path: {folder.path} contains {other_place} ({other.path}); "
                    "nested folders would sync files twice")
        label = _target_label(folder.target)
        if label is not None and label in by_label:
            messages.setdefault(by_label[label], []).append(
                f"{place}: maps to the same work item as {folders[by_label[label]][1]} "
                f"({label}); two folders would fight over which files are deleted")
        for other_index in sorted(messages):
            for message in messages[other_index]:
                problems.add("", message)
        for key in (folder.path, here):
            by_path.setdefault(key, index)
        by_real.setdefault(here, index)
        for parent in here.parents:
            by_parent.setdefault(parent, index)
        if label is not None:
            by_label.setdefault(label, index)
        # Real paths: a state_dir given through a symlink into the folder is inside it too.
        if state_dir.is_relative_to(folder.path) or \
                real_state_dir.is_relative_to(here):
            problems.add("state_dir", f"{state_dir} is inside {place} ({folder.path}); "
                         "the state database would be synced")


def would_sync(folder: FolderConfig, real_root: Path, real_file: Path) -> bool:
    """Whether a scan of ``folder`` would take ``real_file`` (a real path), by its rules."""
    if not real_file.is_relative_to(real_root) or real_file == real_root:
        return False
    parts = real_file.relative_to(real_root).parts
    if len(parts) > 1 and not folder.recurse:
        return False
    try:
        rules = IgnoreRules(folder.include, folder.exclude)
    except ValueError:
        return True  # cannot tell: assume the worst
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts))]
    if any(rules.ignores(prefix, True) for prefix in prefixes):
        return False
    return not rules.ignores("/".join(parts), False)


def check_secret_files(folders: list[tuple[FolderConfig, str]],
                       secrets: list[tuple[str, Path, str]], problems: Problems, *,
                       resolve: Resolve = os.path.realpath) -> None:
    """A file holding the API key must never be synced: it would become an attachment
    that every member of the project can download. ``secrets``: (place, path, what)."""
    real_secrets = [(place, path, what, Path(resolve(path))) for place, path, what in secrets]
    for folder, place in folders:
        real_root = Path(resolve(folder.path))
        for secret_place, path, what, real_path in real_secrets:
            if would_sync(folder, real_root, real_path):
                problems.add(secret_place, f"{path} ({what}) is inside {place} "
                             f"({folder.path}) and would be uploaded to Plane: move it out "
                             "of the folder, or exclude it")
