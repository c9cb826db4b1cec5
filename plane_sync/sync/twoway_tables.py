"""The state database's tables for ``direction: both`` (schema 5), as a mixin of StateDB.

- ``synced``: per folder, work item and path, what both sides last agreed on (the content's
  SHA-256 and the attachment's version, see :mod:`plane_sync.core.twoway`). A row whose file
  is gone while the attachment is unchanged is a tombstone: not downloaded again. Losing the
  database loses these, and then differing sides become conflict copies and deleted files
  come back (the safe side: nothing is lost).
- ``temp_files``: download temp files, written before the file is created, removed after
  the rename: what a crash leaves behind is removed on the next start.
- ``remote_events``: the latest downloads, conflict copies and files moved to the trash, for
  ``status`` (the newest :data:`EVENTS_KEPT` per folder).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from plane_sync.core.twoway import Base

EVENTS_KEPT = 50


@dataclass(frozen=True)
class RemoteEvent:
    folder_key: str
    kind: str  # "downloaded" | "conflict" | "trashed"
    rel_path: str
    detail: str
    at: float


class TwoWayTables:
    """Methods over the schema-5 tables; StateDB supplies ``_transaction`` and ``_query``."""

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def synced_bases(self, folder_key: str, work_item_id: str) -> dict[str, Base]:
        rows = self._query("SELECT path_key, rel_path, sha256, version FROM synced "
                           "WHERE folder_key = ? AND work_item_id = ?",
                           (folder_key, work_item_id))
        return {str(k): Base(str(p), str(s), str(v)) for k, p, s, v in rows}

    def set_synced(self, folder_key: str, work_item_id: str,
                   bases: Iterable[tuple[str, Base]]) -> None:
        with self._transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO synced VALUES (?, ?, ?, ?, ?, ?)",
                             [(folder_key, work_item_id, k, b.rel_path, b.sha256, b.version)
                              for k, b in bases])

    def forget_synced(self, folder_key: str, work_item_id: str,
                      path_keys: Iterable[str]) -> None:
        with self._transaction() as conn:
            conn.executemany("DELETE FROM synced WHERE folder_key = ? AND work_item_id = ? "
                             "AND path_key = ?",
                             [(folder_key, work_item_id, k) for k in path_keys])

    def add_temp_file(self, folder_key: str, path: str, now: float) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO temp_files VALUES (?, ?, ?)",
                         (path, folder_key, now))

    def remove_temp_file(self, path: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM temp_files WHERE path = ?", (path,))

    def temp_files(self, folder_key: str) -> list[str]:
        rows = self._query("SELECT path FROM temp_files WHERE folder_key = ?", (folder_key,))
        return [str(p) for (p,) in rows]

    def add_remote_event(self, event: RemoteEvent) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO remote_events VALUES (?, ?, ?, ?, ?)",
                         (event.folder_key, event.kind, event.rel_path, event.detail,
                          event.at))
            conn.execute("DELETE FROM remote_events WHERE folder_key = ? AND rowid NOT IN "
                         "(SELECT rowid FROM remote_events WHERE folder_key = ? "
                         "ORDER BY at DESC, rowid DESC LIMIT ?)",
                         (event.folder_key, event.folder_key, EVENTS_KEPT))

    def remote_events(self, folder_key: str | None = None) -> list[RemoteEvent]:
        if folder_key is None:
            rows = self._query("SELECT * FROM remote_events ORDER BY at, rowid")
        else:
            rows = self._query("SELECT * FROM remote_events WHERE folder_key = ? "
                               "ORDER BY at, rowid", (folder_key,))
        return [RemoteEvent(str(f), str(k), str(p), str(d), float(a)) for f, k, p, d, a in rows]
