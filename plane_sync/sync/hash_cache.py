"""The hash cache of one folder, read from the state database once and kept in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plane_sync.local.scan import FileKey


class FolderHashCache:
    """scan.HashCache over the state database for one folder (StateDB.hash_cache makes one).

    Reads come from the snapshot loaded at creation (a scan asks once per file).
    Writes are kept in memory and stored in batches of FLUSH_EVERY, because one
    transaction per file would cost more than hashing a small file.
    """

    FLUSH_EVERY = 500

    def __init__(self, folder_key: str, known: dict[str, tuple[Any, ...]], *,
                 store: Callable[[str, list[tuple[FileKey, str, str]]], None]) -> None:
        self._store = store
        self._folder_key = folder_key
        # rel_path -> (dev, ino, size, mtime_ns, sha256, md5): plain tuples load fast.
        self._known = known
        self._unsaved: list[tuple[FileKey, str, str]] = []

    def get(self, key: FileKey) -> tuple[str, str] | None:
        row = self._known.get(key.rel_path)
        if row is None or row[:4] != key[1:]:
            return None
        return str(row[4]), str(row[5])

    def paths(self) -> set[str]:
        """The files the cache knows: those seen by the last pass that stored hashes."""
        return set(self._known)

    def put(self, key: FileKey, sha256: str, md5: str) -> None:
        self._known[key.rel_path] = (*key[1:], sha256, md5)
        self._unsaved.append((key, sha256, md5))
        if len(self._unsaved) >= self.FLUSH_EVERY:
            self.flush()

    def retain(self, rel_paths: set[str]) -> None:
        """Forget, in memory, the files not in ``rel_paths`` (see StateDB.prune_hashes)."""
        for rel in [r for r in self._known if r not in rel_paths]:
            del self._known[rel]

    def flush(self) -> None:
        """Store the hashes not yet written."""
        if self._unsaved:
            batch, self._unsaved = self._unsaved, []
            self._store(self._folder_key, batch)

    def __enter__(self) -> FolderHashCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.flush()
