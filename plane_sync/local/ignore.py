"""Include/exclude rules in a gitignore-like glob dialect.

Pattern forms (case-sensitive, as on Linux):

- no "/" (``*.tmp``, ``~$*``, ``.*``): matches the *base name* at any depth;
- with "/" (``build/**``, ``docs/*.pdf``): matches the whole path relative to the
  folder root; a leading "/" is allowed and only anchors (``/build`` = ``build``);
- a trailing "/" (``cache/``) makes the pattern match directories only.

Within a pattern ``*`` and ``?`` never cross "/", ``[...]`` is a character class
(``[!...]`` negates), ``**`` crosses "/", and ``**/`` may also match nothing, so
``a/**/b`` matches ``a/b``. Negation (``!pattern``) is not supported.

An excluded directory is not descended. Include patterns (when there are any)
select *files* only: directories are always descended so that ``*.pdf`` finds
PDFs at any depth. Exclusion always wins over inclusion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


def _translate_class(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate ``[...]`` starting at ``start``; None when the bracket is unterminated."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    body_start = i
    if i < len(pattern) and pattern[i] == "]":  # a leading "]" is literal
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 1
    if i >= len(pattern):
        return None
    body = pattern[body_start:i].replace("\\", "\\\\").replace("[", "\\[")
    if body.startswith("]"):
        body = "\\" + body
    # A class never matches "/" (it is a path separator, not part of a name).
    regex = f"(?!/)[^{body}]" if negate else f"(?!/)[{body}]"
    return regex, i + 1


def glob_to_regex(pattern: str) -> str:
    """Translate one glob (already stripped of anchors and the trailing "/") into a regex."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**", i):
            at_segment_start = i == 0 or pattern[i - 1] == "/"
            followed_by_slash = pattern.startswith("/", i + 2)
            if at_segment_start and followed_by_slash:
                out.append("(?:.*/)?")  # "**/" may match zero directories
                i += 3
            else:
                out.append(".*")
                i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            translated = _translate_class(pattern, i)
            if translated is None:
                out.append(re.escape(char))
                i += 1
            else:
                regex, i = translated
                out.append(regex)
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class _CompiledGroup:
    """Patterns split by how they match, each kind merged into one regex for speed."""

    base_any: re.Pattern[str] | None
    base_dir_only: re.Pattern[str] | None
    path_any: re.Pattern[str] | None
    path_dir_only: re.Pattern[str] | None

    @classmethod
    def compile(cls, patterns: Sequence[str]) -> _CompiledGroup:
        buckets: dict[tuple[bool, bool], list[str]] = {
            (False, False): [], (False, True): [], (True, False): [], (True, True): [],
        }
        for raw in patterns:
            pattern = raw.strip()
            if not pattern:
                raise ValueError("empty ignore pattern")
            dir_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            if not pattern:
                raise ValueError(f"ignore pattern {raw!r} matches nothing")
            anchored = "/" in pattern
            pattern = pattern.lstrip("/")
            buckets[(anchored, dir_only)].append(glob_to_regex(pattern))

        def merged(regexes: list[str]) -> re.Pattern[str] | None:
            if not regexes:
                return None
            return re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL)

        return cls(
            base_any=merged(buckets[(False, False)]),
            base_dir_only=merged(buckets[(False, True)]),
            path_any=merged(buckets[(True, False)]),
            path_dir_only=merged(buckets[(True, True)]),
        )

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        base = rel_path.rpartition("/")[2]
        candidates = [rel_path]
        if is_dir:
            # "build/**" should stop the walk at "build" itself rather than exclude
            # each child one by one: test the directory as "build/" too.
            candidates.append(rel_path + "/")
        if self.base_any is not None and self.base_any.fullmatch(base):
            return True
        if self.path_any is not None and any(self.path_any.fullmatch(c) for c in candidates):
            return True
        if not is_dir:
            return False
        if self.base_dir_only is not None and self.base_dir_only.fullmatch(base):
            return True
        return self.path_dir_only is not None and any(
            self.path_dir_only.fullmatch(c) for c in candidates
        )


# Temp files of downloads in progress (sync/downloads.py): left out whatever the rules say,
# so the scan, the watcher and the poller never take one.
DOWNLOAD_TEMP_PREFIX = ".plane-sync-"
DOWNLOAD_TEMP_SUFFIX = ".part"


def is_download_temp(rel_path: str) -> bool:
    name = rel_path.rsplit("/", 1)[-1]
    return name.startswith(DOWNLOAD_TEMP_PREFIX) and name.endswith(DOWNLOAD_TEMP_SUFFIX)


class IgnoreRules:
    """Decide which paths of a folder are left out of the sync.

    ``include``: if non-empty, only files matching one of these are taken.
    ``exclude``: files and directories matching one of these are left out
    (directories are not descended).
    Raises ValueError for an empty pattern.
    """

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self._include = _CompiledGroup.compile(self.include) if self.include else None
        self._exclude = _CompiledGroup.compile(self.exclude)

    def ignores(self, rel_path: str, is_dir: bool) -> bool:
        """True when ``rel_path`` (POSIX, relative to the folder root) is left out."""
        if self._exclude.matches(rel_path, is_dir) or is_download_temp(rel_path):
            return True
        if is_dir or self._include is None:
            return False
        return not self._include.matches(rel_path, False)

    def __repr__(self) -> str:
        return f"IgnoreRules(include={list(self.include)!r}, exclude={list(self.exclude)!r})"
