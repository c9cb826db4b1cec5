"""The state database's tables for ownership and waiting (schema 3), as a mixin of StateDB.

- ``seen``: the paths a folder has seen on disk, per work item. A folder deletes only
  attachments of paths it has seen and that are gone since: an attachment of a path it never
  saw belongs to another folder or machine feeding the same work item. Losing the database
  loses this too, and then nothing is deleted until the files are seen again (the safe side).
- ``deletions``: when each gone file's attachments were deleted, so the mass-delete guard can
  count a window (a share emptying one file at a time is held like one emptied at once).
- ``pending``: another machine's attachments still pending (first seen, when looked at again,
  how often so far): see :mod:`plane_sync.sync.pending`.
- ``holds``: a condition that holds back every upload until a time (expired policies).
- ``waiting``: the files a folder's last pass left waiting, why, and when they are looked at
  again, for ``status``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from plane_sync.sync.records import Pause, PendingConflict, pause_delay


class OwnershipTables:
    """Methods over the schema-3 tables; StateDB supplies ``_transaction`` and ``_query``."""

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # --- seen paths ---------------------------------------------------------------

    def seen_paths(self, folder_key: str, work_item_id: str) -> dict[str, str]:
        """path key -> relative path of every path this folder has seen for the work item."""
        rows = self._query("SELECT path_key, rel_path FROM seen WHERE folder_key = ? "
                           "AND work_item_id = ?", (folder_key, work_item_id))
        return {str(k): str(p) for k, p in rows}

    def add_seen(self, folder_key: str, work_item_id: str,
                 paths: Iterable[tuple[str, str]]) -> None:
        """Remember (path key, relative path) pairs as seen; already known ones are kept."""
        with self._transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)",
                             [(folder_key, work_item_id, k, p) for k, p in paths])

    def forget_seen(self, folder_key: str, work_item_id: str, path_keys: Iterable[str]) -> None:
        with self._transaction() as conn:
            conn.executemany("DELETE FROM seen WHERE folder_key = ? AND work_item_id = ? "
                             "AND path_key = ?",
                             [(folder_key, work_item_id, k) for k in path_keys])

    # --- deletions of gone files --------------------------------------------------

    def record_deletion(self, folder_key: str, path_key: str, now: float) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO deletions VALUES (?, ?, ?)", (folder_key, path_key, now))

    def recent_deletions(self, folder_key: str, since: float) -> int:
        """How many distinct gone files of this folder had their attachments deleted since
        ``since``; older rows are dropped on the way."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM deletions WHERE folder_key = ? AND deleted_at < ?",
                         (folder_key, since))
            row = conn.execute("SELECT COUNT(DISTINCT path_key) FROM deletions "
                               "WHERE folder_key = ?", (folder_key,)).fetchone()
        return int(row[0])

    # --- another machine's pending uploads ---------------------------------------
    def note_pending(self, folder_key: str, rel_path: str, attachment_id: str,
                     first_seen: float) -> PendingConflict:
        """Remember a pending attachment; keeps the first sighting if already noted."""
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO pending (folder_key, rel_path, attachment_id, "
                         "first_seen) VALUES (?, ?, ?, ?)",
                         (folder_key, rel_path, attachment_id, first_seen))
            row = conn.execute("SELECT * FROM pending WHERE folder_key = ? AND "
                               "attachment_id = ?", (folder_key, attachment_id)).fetchone()
        return PendingConflict(*row)

    def pending(self, folder_key: str) -> list[PendingConflict]:
        rows = self._query("SELECT * FROM pending WHERE folder_key = ? "
                           "ORDER BY rel_path, first_seen", (folder_key,))
        return [PendingConflict(*row) for row in rows]

    def clear_pending(self, folder_key: str, attachment_id: str | None = None) -> None:
        """Forget one pending attachment, or all of a folder's when no id is given."""
        with self._transaction() as conn:
            if attachment_id is None:
                conn.execute("DELETE FROM pending WHERE folder_key = ?", (folder_key,))
            else:
                conn.execute("DELETE FROM pending WHERE folder_key = ? AND attachment_id = ?",
                             (folder_key, attachment_id))


    def schedule_pending_check(self, folder_key: str, attachment_id: str,
                               next_check: float) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE pending SET next_check = ?, checks = checks + 1 "
                         "WHERE folder_key = ? AND attachment_id = ?",
                         (next_check, folder_key, attachment_id))

    def pending_for(self, folder_key: str, rel_path: str) -> PendingConflict | None:
        rows = self._query("SELECT * FROM pending WHERE folder_key = ? AND rel_path = ? "
                           "ORDER BY first_seen", (folder_key, rel_path))
        return PendingConflict(*rows[0]) if rows else None

    # --- holds on every upload ----------------------------------------------------

    def pause(self, name: str, reason: str, now: float) -> Pause:
        """Record (or extend) a hold on every upload; the next try backs off (see
        :func:`~plane_sync.sync.records.pause_delay`)."""
        with self._transaction() as conn:
            row = conn.execute("SELECT attempts, since FROM holds WHERE name = ?",
                               (name,)).fetchone()
            attempts = 1 if row is None else int(row[0]) + 1
            since = now if row is None else float(row[1])
            pause = Pause(name, reason, attempts, now + pause_delay(attempts), since)
            conn.execute("INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?, ?)",
                         (name, reason, attempts, pause.next_try, since))
        return pause

    def pauses(self) -> list[Pause]:
        return [Pause(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4]))
                for r in self._query("SELECT * FROM holds ORDER BY name")]

    def lift_pause(self, name: str) -> Pause | None:
        """End a hold on every upload; the hold that ended, if there was one."""
        with self._transaction() as conn:
            row = conn.execute("SELECT * FROM holds WHERE name = ?", (name,)).fetchone()
            conn.execute("DELETE FROM holds WHERE name = ?", (name,))
        return None if row is None else Pause(str(row[0]), str(row[1]), int(row[2]),
                                              float(row[3]), float(row[4]))

    # --- files left waiting -------------------------------------------------------

    def set_waiting(self, folder_key: str,
                    entries: Iterable[tuple[str, str, float | None]]) -> None:
        """Replace the folder's waiting files with (rel_path, reason, next check)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM waiting WHERE folder_key = ?", (folder_key,))
            conn.executemany("INSERT OR REPLACE INTO waiting VALUES (?, ?, ?, ?)",
                             [(folder_key, p, r, t) for p, r, t in entries])

    def waiting(self, folder_key: str | None = None) -> list[tuple[str, str, str, float | None]]:
        """(folder_key, rel_path, reason, next check) of files left waiting."""
        sql = "SELECT folder_key, rel_path, reason, next_check FROM waiting"
        rows = (self._query(sql + " ORDER BY folder_key, rel_path") if folder_key is None
                else self._query(sql + " WHERE folder_key = ? ORDER BY rel_path",
                                 (folder_key,)))
        return [(str(a), str(b), str(c), None if d is None else float(d))
                for a, b, c, d in rows]
