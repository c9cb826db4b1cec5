"""The hash cache of one folder, read from the state database once and kept in memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from plane_sync.local.scan import CachedHash, FileKey

# ctime_ns of rows stored before ctime was part of the key (schema 2): such a row is
# trusted once more on what was checked then, and re-stored with the full key.
LEGACY_CTIME = -1

HashRow = tuple[FileKey, str, str, float]  # key, sha256, md5, hashed_at


class FolderHashCache:
    """scan.HashCache over the state database for one folder (StateDB.hash_cache makes one).

    Reads come from the snapshot loaded at creation (a scan asks once per file).
    Writes are kept in memory and stored in batches of FLUSH_EVERY, because one
    transaction per file would cost more than hashing a small file.
    """

    FLUSH_EVERY = 500

    def __init__(self, folder_key: str, known: dict[str, tuple[Any, ...]], *,
                 store: Callable[[str, list[HashRow]], None],
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._folder_key = folder_key
        self._clock = clock
        # rel_path -> (dev, ino, size, mtime_ns, ctime_ns, sha256, md5, hashed_at): plain
        # tuples load fast.
        self._known = known
        self._unsaved: list[HashRow] = []

    def get(self, key: FileKey) -> CachedHash | None:
        row = self._known.get(key.rel_path)
        if row is None:
            return None
        if row[:5] == key[1:]:
            return CachedHash(str(row[5]), str(row[6]), float(row[7]))
        if row[4] == LEGACY_CTIME and row[1:4] == key[2:5]:
            # Stored by a version that keyed on (dev, ino, size, mtime): what it trusted
            # still matches (the device aside: a share's changes at every mount).
            self._remember(key, str(row[5]), str(row[6]), float(row[7]))
            return CachedHash(str(row[5]), str(row[6]), float(row[7]))
        return None

    def paths(self) -> set[str]:
        """The files the cache knows: those seen by the last pass that stored hashes."""
        return set(self._known)

    def put(self, key: FileKey, sha256: str, md5: str) -> None:
        self._remember(key, sha256, md5, self._clock())

    def _remember(self, key: FileKey, sha256: str, md5: str, hashed_at: float) -> None:
        self._known[key.rel_path] = (*key[1:], sha256, md5, hashed_at)
        self._unsaved.append((key, sha256, md5, hashed_at))
        if len(self._unsaved) >= self.FLUSH_EVERY:
            self.flush()

    def retain(self, rel_paths: set[str]) -> None:
        """Forget, in memory, the files not in ``rel_paths`` (see StateDB.prune_hashes)."""
        for rel in [r for r in self._known if r not in rel_paths]:
            del self._known[rel]

    def paths_elsewhere(self, dev: int) -> set[str]:
        """Paths whose hash was taken on another filesystem than ``dev`` (FileKey.dev)."""
        return {rel for rel, row in self._known.items() if row[0] != dev}

    def flush(self) -> None:
        """Store the hashes not yet written."""
        if self._unsaved:
            batch, self._unsaved = self._unsaved, []
            self._store(self._folder_key, batch)

    def __enter__(self) -> FolderHashCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.flush()
