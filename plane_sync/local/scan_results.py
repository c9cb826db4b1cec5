"""What a scan returns (:class:`ScanResult`, :class:`ScanProblem`) and the hash cache it reads
and fills (:class:`HashCache`; :class:`MemoryHashCache` for one-shot runs and tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from plane_sync.core.models import LocalFile
from plane_sync.local.filekeys import FileKey

ProblemKind = Literal[
    "unreadable", "symlink", "special", "changing", "bad_name", "mount", "loop", "too_deep",
]

class CachedHash(NamedTuple):
    sha256: str
    md5: str
    hashed_at: float  # wall-clock time the content was read


class HashCache(Protocol):
    def get(self, key: FileKey) -> CachedHash | None: ...

    def put(self, key: FileKey, sha256: str, md5: str) -> None: ...

    def flush(self) -> None:
        """Store what put() may have buffered; scan_folder calls it when it ends."""


class MemoryHashCache:
    """A HashCache in a dict: for one-shot runs, tests and benchmarks."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._hashes: dict[FileKey, CachedHash] = {}
        self._clock = clock

    def get(self, key: FileKey) -> CachedHash | None:
        return self._hashes.get(key)

    def put(self, key: FileKey, sha256: str, md5: str) -> None:
        self._hashes[key] = CachedHash(sha256, md5, self._clock())

    def flush(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._hashes)


@dataclass(frozen=True)
class ScanProblem:
    rel_path: str
    reason: str
    kind: ProblemKind
    is_dir: bool = False


@dataclass(frozen=True)
class ScanResult:
    files: tuple[LocalFile, ...]
    problems: tuple[ScanProblem, ...]
    available: bool
    reason: str | None  # why the folder is unavailable; None when available
    dirs: int  # directories listed, the root included
    # Changes when any listed file's (path, size, mtime) does: two passes with the same
    # fingerprint saw the same files.
    fingerprint: int = 0
    hashed: int = 0  # files read this scan (not served by the cache)
    hashed_bytes: int = 0
    volume: int | None = None  # FileKey.dev of the files this scan saw

    @property
    def complete(self) -> bool:
        """False when some directory could not be listed: absent files may still exist,
        so nothing may be deleted on the strength of this scan."""
        return self.available and not any(
            p.is_dir and p.kind == "unreadable" for p in self.problems
        )
