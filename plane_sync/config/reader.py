"""Reading YAML into plain data, and a checked view of one mapping that records problems.

The reader never stops at the first problem: every accessor records what is wrong with
its value (with the value's place, e.g. ``folders[2].work_item``) and returns a fallback,
so that one pass over the file finds every problem.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from plane_sync.config.plain_yaml import load_plain_yaml
from plane_sync.config.values import (
    MalformedReference,
    describe_seconds,
    kind,
    parse_duration,
    show,
    substitute_env,
)

MAX_PATTERNS = 1000  # per include or exclude list
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class Problems:
    """An ordered list of "place: message" lines."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, place: str, message: str) -> None:
        self.items.append(f"{place}: {message}" if place else message)

    def __bool__(self) -> bool:
        return bool(self.items)


def load_yaml(text: str, problems: Problems) -> object:
    """Parse one YAML document into plain data (see :mod:`plane_sync.config.plain_yaml`).

    Syntax errors, tags and caps make it None with their problems; duplicate keys are
    problems too, but the data is kept so that the rest of the file is checked as well.
    """
    data, found, duplicates = load_plain_yaml(text)
    for problem in [*found, *duplicates]:
        problems.add("", problem)
    return data


def expand_path(text: str, env: Mapping[str, str], base_dir: Path) -> Path:
    """``~`` from $HOME in ``env``, ``~user`` from the user database; relative paths are
    relative to ``base_dir``; normalized. ValueError for ``~user`` of no such user (it would
    otherwise quietly become a relative path named "~user")."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        text = home + text[1:]
    elif text.startswith("~"):
        user = text[1:].split("/", 1)[0]
        expanded = os.path.expanduser(text)
        if expanded == text:
            raise ValueError(f"{show(text)}: there is no user {show(user)} on this machine "
                             "(~user means that user's home directory)")
        text = expanded
    path = Path(text)
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.normpath(path))


class Section:
    """A mapping from the YAML file at ``place``; typed accessors record problems."""

    def __init__(self, data: Mapping[Any, Any], place: str, problems: Problems,
                 env: Mapping[str, str], base_dir: Path) -> None:
        self.data = data
        self.place = place
        self.problems = problems
        self.env = env
        self.base_dir = base_dir
        self.literal_secrets: set[str] = set()  # keys whose secret value is written in the file

    def at(self, key: str) -> str:
        return f"{self.place}.{key}" if self.place else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def problem(self, key: str | None, message: str) -> None:
        self.problems.add(self.place if key is None else self.at(key), message)

    def check_keys(self, allowed: Sequence[str]) -> None:
        for key in self.data:
            if isinstance(key, str) and key in allowed:
                continue
            name = str(key)
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{close[0]}"?' if close else "known keys: " + ", ".join(allowed)
            if self.place:
                self.problems.add(self.place, f"unknown key {show(name)} ({hint})")
            else:
                self.problems.add("", f"unknown top-level key {show(name)} ({hint})")

    def section(self, key: str, *, required: bool = False) -> Section | None:
        if key not in self.data:
            if required:
                self.problem(key, "missing")
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.problem(key, f"expected a mapping of keys, got {show(value)}")
            return None
        return Section(value, self.at(key), self.problems, self.env, self.base_dir)

    def text(self, key: str, *, required: bool = False, secret: bool = False) -> str | None:
        """A string value after ${VAR} substitution; None when absent or bad."""
        if key not in self.data or self.data[key] is None:
            if required:
                self.problem(key, "missing")
            return None
        return self._substitute(key, self.data[key], secret=secret, what="a string")

    def _substitute(self, key: str, value: object, *, secret: bool, what: str) -> str | None:
        if not isinstance(value, str):
            shown = kind(value) if secret else show(value)
            self.problem(key, f"expected {what}, got {shown}")
            return None
        try:
            result, from_file = substitute_env(value, self.env)
        except MalformedReference as exc:
            self.problem(key, str(exc) if secret else f"{show(value)} {exc}")
            return None
        except ValueError as exc:
            self.problem(key, str(exc))
            return None
        if secret and from_file:
            self.literal_secrets.add(key)
        return result

    def scalar(self, key: str) -> tuple[bool, object]:
        """(ok, value): the raw value with ${VAR} substituted if it is a string.

        ok is False when substitution failed (already reported).
        """
        value = self.data.get(key)
        if isinstance(value, str):
            result = self._substitute(key, value, secret=False, what="a string")
            return result is not None, result
        return True, value

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        ok, value = self.scalar(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if ok:
            self.problem(key, f"expected true or false, got {show(value)}")
        return default

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        if key not in self.data:
            return default
        ok, value = self.scalar(key)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        if ok:
            self.problem(key, f"{show(value)} is not one of: {', '.join(choices)}")
        return default

    def seconds(self, key: str, default: float, *, maximum: float,
                allow_zero: bool = False) -> float:
        """A duration of at most ``maximum`` seconds: beyond it a value is a slip of the
        keyboard ("200000d"), and a wait that long overflows the thread primitives."""
        if key not in self.data:
            return default
        ok, value = self.scalar(key)
        if not ok:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return default
        if seconds == 0 and not allow_zero:
            self.problem(key, "must be more than zero")
            return default
        if seconds > maximum:
            self.problem(key, f"{show(value)} is more than the longest allowed, "
                         f"{describe_seconds(maximum)}")
            return default
        return seconds

    def globs(self, key: str) -> tuple[str, ...] | None:
        """A list of glob patterns (a single string is taken as a list of one)."""
        if key not in self.data:
            return None
        value = self.data[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self.problem(key, f"expected a list of glob patterns, got {show(value)}")
            return None
        if len(items) > MAX_PATTERNS:
            self.problem(key, f"{len(items)} patterns; at most {MAX_PATTERNS} are accepted "
                         "(every file is matched against each; use wider patterns like "
                         '"*.log" or "build/**")')
            return None
        patterns: list[str] = []
        for index, item in enumerate(items):
            place = f"{key}[{index}]"
            pattern = self._substitute(place, item, secret=False, what="a glob pattern")
            if pattern is None:
                continue
            if not pattern:
                self.problem(place, "a glob pattern must not be empty")
                continue
            patterns.append(pattern)
        return tuple(patterns)

    def path(self, key: str, *, required: bool = False) -> Path | None:
        raw = self.text(key, required=required)
        if raw is None:
            return None
        if not raw.strip():
            self.problem(key, "must not be empty")
            return None
        try:
            return expand_path(raw, self.env, self.base_dir)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None
