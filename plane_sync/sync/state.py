"""The local state database (SQLite, WAL): a cache and a journal, never the truth.

Plane's attachment list is the truth; this file only saves work (hashes), remembers
intent (the upload journal, so a crash mid-upload is cleaned up next run) and
keeps what the user is shown (failures, skips, folder and daemon status). Deleting
it loses nothing but time.

One StateDB is shared by the daemon's threads (one connection behind a lock);
WAL mode lets ``plane-sync status`` read from another process while the daemon
writes.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plane_sync.errors import StateError
from plane_sync.sync.hash_cache import FolderHashCache, HashRow
from plane_sync.sync.records import (
    MAX_RETRY_DELAY,
    DaemonStatus,
    Failure,
    FolderState,
    FolderStatus,
    Intent,
    JournalEntry,
    Pause,
    PendingConflict,
    Skip,
    retry_delay,
)
from plane_sync.sync.schema import MIGRATIONS, SCHEMA_VERSION
from plane_sync.sync.state_tables import OwnershipTables

__all__ = [
    "MAX_RETRY_DELAY", "SCHEMA_VERSION", "DaemonStatus", "Failure", "FolderHashCache",
    "FolderState", "FolderStatus", "Intent", "JournalEntry", "Pause", "PendingConflict", "Skip",
    "StateDB", "retry_delay",
]

BUSY_TIMEOUT_MS = 10_000



def _discard(folder_key: str, batch: list[HashRow]) -> None:
    """The store of a read-only hash cache."""


class StateDB(OwnershipTables):
    """All local state of plane-sync in one SQLite file. Raises StateError."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state database {self.path}: {exc}") from exc
        try:
            with self._translate_errors():
                self._configure(self._conn)
                self._migrate()
        except BaseException:
            self._conn.close()
            raise
        self._identity = self._open_identity()

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StateError(f"state database {self.path} cannot use WAL mode "
                             f"(got {mode!r}); put it on a local filesystem")
        # In WAL mode NORMAL is durable against crashes of the process.
        conn.execute("PRAGMA synchronous = NORMAL")

    # --- plumbing ---------------------------------------------------------------

    def _open_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def still_linked(self) -> bool:
        """Whether the file at our path is still the database we have open (it is not when
        the state directory was deleted or replaced under us)."""
        return self._identity is not None and self._open_identity() == self._identity

    def relink(self) -> None:
        """Copy what we have open into a database at our path again (after the file was
        deleted under us) and go on with that one: nothing recorded is lost."""
        with self._lock, self._translate_errors():
            fresh = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                    isolation_level=None, check_same_thread=False)
            try:
                self._conn.backup(fresh)
                self._configure(fresh)
            except BaseException:
                fresh.close()
                raise
            self._conn.close()
            self._conn = fresh
            self._identity = self._open_identity()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _corrupt(self, exc: BaseException) -> StateError:
        return StateError(
            f"state database {self.path} is corrupt ({exc}): move it away and plane-sync "
            "rebuilds it. Nothing is lost: Plane's attachment list is the truth.")

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except StateError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StateError(f"state database {self.path} is busy: another process "
                                 f"holds it too long ({exc})") from exc
            raise StateError(f"state database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
            raise self._corrupt(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so it never deadlocks on upgrade."""
        with self._lock, self._translate_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._translate_errors():
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _stored_version(self, conn: sqlite3.Connection) -> int:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                              "AND name = 'schema_version'").fetchone()
        row = conn.execute("SELECT version FROM schema_version").fetchone() if exists else None
        return 0 if row is None else int(row[0])

    def _migrate(self) -> None:
        # Read first: a reader (``plane-sync status``) must not need the write lock
        # the daemon may be holding.
        with self._lock, self._translate_errors():
            version = self._stored_version(self._conn)
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as conn:
            version = self._stored_version(conn)  # another process may have migrated
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.path} was written by a newer plane-sync (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}): upgrade plane-sync")
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    def schema_version(self) -> int:
        return int(self._query("SELECT version FROM schema_version")[0][0])

    def journal_mode(self) -> str:
        return str(self._query("PRAGMA journal_mode")[0][0])

    # --- hash cache -------------------------------------------------------------

    def hash_cache(self, folder_key: str, *, read_only: bool = False) -> FolderHashCache:
        """A HashCache for one folder, loaded once (one query, not one per file).

        Writes are batched: use it as ``with db.hash_cache(key) as cache:`` (or call
        ``flush()``) so the last batch is stored; a lost batch only costs re-hashing.
        ``read_only``: new hashes stay in memory (a dry run writes nothing).
        """
        rows = self._query(
            "SELECT rel_path, dev, ino, size, mtime_ns, ctime_ns, sha256, md5, hashed_at "
            "FROM hashes WHERE folder_key = ?", (folder_key,))
        known = {str(r[0]): tuple(r[1:]) for r in rows}
        return FolderHashCache(folder_key, known,
                               store=_discard if read_only else self._put_hashes)

    def _put_hashes(self, folder_key: str, batch: list[HashRow]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO hashes (folder_key, rel_path, dev, ino, size, "
                "mtime_ns, ctime_ns, sha256, md5, hashed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(folder_key, *key, sha256, md5, hashed_at)
                 for key, sha256, md5, hashed_at in batch])

    def prune_hashes(self, folder_key: str, seen_rel_paths: Iterable[str]) -> int:
        """Forget hashes of files no longer seen; returns how many were dropped."""
        seen = set(seen_rel_paths)
        with self._transaction() as conn:
            stored = [r[0] for r in conn.execute(
                "SELECT rel_path FROM hashes WHERE folder_key = ?", (folder_key,))]
            gone = [(folder_key, p) for p in stored if p not in seen]
            conn.executemany("DELETE FROM hashes WHERE folder_key = ? AND rel_path = ?", gone)
        return len(gone)

    # --- upload journal ---------------------------------------------------------

    def journal_add(self, entry: JournalEntry) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (entry.attachment_id, entry.folder_key, entry.project_id,
                          entry.work_item_id, entry.rel_path, entry.external_id,
                          entry.created_at))

    def journal_remove(self, attachment_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM journal WHERE attachment_id = ?", (attachment_id,))

    def journal_entries(self) -> list[JournalEntry]:
        rows = self._query("SELECT * FROM journal ORDER BY created_at, attachment_id")
        return [JournalEntry(*row) for row in rows]

    # --- create intents ---------------------------------------------------------

    def intent_add(self, folder_key: str, work_item_id: str, external_id: str, rel_path: str,
                   created_at: float) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO intents VALUES (?, ?, ?, ?, ?)",
                         (folder_key, work_item_id, external_id, rel_path, created_at))

    def intent_remove(self, work_item_id: str, external_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM intents WHERE work_item_id = ? AND external_id = ?",
                         (work_item_id, external_id))

    def intents(self) -> list[Intent]:
        rows = self._query("SELECT * FROM intents ORDER BY created_at, external_id")
        return [Intent(*row) for row in rows]

    # --- failures ---------------------------------------------------------------

    def record_failure(self, folder_key: str, rel_path: str, reason: str, *, now: float,
                       permanent: bool = False) -> Failure:
        """Count one more failure and schedule the next attempt (none if permanent)."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT attempts, first_failed_at FROM failures "
                "WHERE folder_key = ? AND rel_path = ?", (folder_key, rel_path)).fetchone()
            attempts = 1 if row is None else int(row[0]) + 1
            first = now if row is None else float(row[1])
            next_at = None if permanent else now + retry_delay(attempts)
            failure = Failure(folder_key, rel_path, reason, attempts, next_at, first, permanent)
            conn.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (folder_key, rel_path, reason, attempts, next_at, first,
                          int(permanent)))
        return failure

    def clear_failure(self, folder_key: str, rel_path: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM failures WHERE folder_key = ? AND rel_path = ?",
                         (folder_key, rel_path))

    def failures(self, folder_key: str | None = None) -> list[Failure]:
        sql = "SELECT * FROM failures"
        rows = (self._query(sql + " ORDER BY folder_key, rel_path") if folder_key is None
                else self._query(sql + " WHERE folder_key = ? ORDER BY rel_path",
                                 (folder_key,)))
        return [Failure(r[0], r[1], r[2], int(r[3]), r[4], float(r[5]), bool(r[6]))
                for r in rows]

    def should_retry(self, folder_key: str, rel_path: str, now: float) -> bool:
        """True when the file never failed, or its backoff has expired (never if permanent)."""
        rows = self._query("SELECT next_retry_at, permanent FROM failures "
                           "WHERE folder_key = ? AND rel_path = ?", (folder_key, rel_path))
        if not rows:
            return True
        next_at, permanent = rows[0]
        return not permanent and now >= (math.inf if next_at is None else float(next_at))

    # --- skips ------------------------------------------------------------------

    def record_skip(self, folder_key: str, rel_path: str, reason: str, fingerprint: str) -> bool:
        """Remember a skipped file; True only when it is new or its reason/fingerprint
        changed, so the caller logs each skip once."""
        with self._transaction() as conn:
            row = conn.execute("SELECT reason, fingerprint FROM skips "
                               "WHERE folder_key = ? AND rel_path = ?",
                               (folder_key, rel_path)).fetchone()
            if row is not None and tuple(row) == (reason, fingerprint):
                return False
            conn.execute("INSERT OR REPLACE INTO skips VALUES (?, ?, ?, ?)",
                         (folder_key, rel_path, reason, fingerprint))
            return True

    def clear_skips_except(self, folder_key: str, current: set[str]) -> None:
        with self._transaction() as conn:
            stored = [r[0] for r in conn.execute(
                "SELECT rel_path FROM skips WHERE folder_key = ?", (folder_key,))]
            conn.executemany("DELETE FROM skips WHERE folder_key = ? AND rel_path = ?",
                             [(folder_key, p) for p in stored if p not in current])

    def skips(self, folder_key: str | None = None) -> list[Skip]:
        sql = "SELECT * FROM skips"
        rows = (self._query(sql + " ORDER BY folder_key, rel_path") if folder_key is None
                else self._query(sql + " WHERE folder_key = ? ORDER BY rel_path",
                                 (folder_key,)))
        return [Skip(*row) for row in rows]

    # --- status -----------------------------------------------------------------

    def set_folder_status(self, status: FolderStatus) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO folder_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (status.folder_key, status.path, status.work_item_label, status.last_sync_at,
                 status.files_in_sync, status.pending, status.failed, status.skipped,
                 status.state, status.reason))

    def set_folder_state(self, folder_key: str, path: str, work_item_label: str,
                         state: FolderState, reason: str | None) -> None:
        """Change a folder's state and reason, keeping what its last pass counted (a share
        that went away still had those files in sync)."""
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO folder_status VALUES "
                         "(?, ?, ?, NULL, 0, 0, 0, 0, ?, ?)",
                         (folder_key, path, work_item_label, state, reason))
            conn.execute("UPDATE folder_status SET state = ?, reason = ? WHERE folder_key = ?",
                         (state, reason, folder_key))

    def folder_statuses(self) -> list[FolderStatus]:
        rows = self._query("SELECT * FROM folder_status ORDER BY folder_key")
        return [FolderStatus(*row) for row in rows]

    def remove_folder(self, folder_key: str) -> None:
        """Drop what is kept for a folder that left the configuration. The journal and
        intents stay: they still point at attachments that need cleaning up."""
        with self._transaction() as conn:
            for table in ("hashes", "failures", "skips", "pending", "folder_status", "seen",
                          "deletions", "waiting"):
                conn.execute(f"DELETE FROM {table} WHERE folder_key = ?",  # noqa: S608
                             (folder_key,))

    def set_daemon_status(self, pid: int, activity: str, updated_at: float) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO daemon_status VALUES (1, ?, ?, ?)",
                         (pid, activity, updated_at))

    def daemon_status(self) -> DaemonStatus | None:
        rows = self._query("SELECT pid, activity, updated_at FROM daemon_status")
        return DaemonStatus(*rows[0]) if rows else None
