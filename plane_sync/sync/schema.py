"""The state database's schema: each migration moves it from version i to i+1.

The version is stored in the database; a newer one than this code knows is refused (see
:meth:`plane_sync.sync.state.StateDB._migrate`). Never edit a migration that shipped: add one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE hashes (
        folder_key TEXT NOT NULL, rel_path TEXT NOT NULL,
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL,
        PRIMARY KEY (folder_key, rel_path));
    CREATE TABLE journal (
        attachment_id TEXT PRIMARY KEY, folder_key TEXT NOT NULL, project_id TEXT NOT NULL,
        work_item_id TEXT NOT NULL, rel_path TEXT NOT NULL, external_id TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE failures (
        folder_key TEXT NOT NULL, rel_path TEXT NOT NULL, reason TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_retry_at REAL, first_failed_at REAL NOT NULL,
        permanent INTEGER NOT NULL, PRIMARY KEY (folder_key, rel_path));
    CREATE TABLE skips (
        folder_key TEXT NOT NULL, rel_path TEXT NOT NULL, reason TEXT NOT NULL,
        fingerprint TEXT NOT NULL, PRIMARY KEY (folder_key, rel_path));
    CREATE TABLE pending (
        folder_key TEXT NOT NULL, rel_path TEXT NOT NULL, attachment_id TEXT NOT NULL,
        first_seen REAL NOT NULL, PRIMARY KEY (folder_key, attachment_id));
    CREATE TABLE folder_status (
        folder_key TEXT PRIMARY KEY, path TEXT NOT NULL, work_item_label TEXT NOT NULL,
        last_sync_at REAL, files_in_sync INTEGER NOT NULL, pending INTEGER NOT NULL,
        failed INTEGER NOT NULL, skipped INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT);
    CREATE TABLE daemon_status (
        id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, activity TEXT NOT NULL,
        updated_at REAL NOT NULL);
    """,
    # 2: an intent is written before each create, so a 409 after a crash is known as ours.
    """
    CREATE TABLE intents (
        folder_key TEXT NOT NULL, work_item_id TEXT NOT NULL, external_id TEXT NOT NULL,
        rel_path TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (work_item_id, external_id));
    """,
    # 3: what each folder has seen (only those paths may be deleted), deletions of gone files
    # (the mass-delete guard counts a window, not one pass), when a pending attachment of
    # someone else is looked at next, and conditions that hold back every upload for a while.
    """
    CREATE TABLE seen (
        folder_key TEXT NOT NULL, work_item_id TEXT NOT NULL, path_key TEXT NOT NULL,
        rel_path TEXT NOT NULL, PRIMARY KEY (folder_key, work_item_id, path_key));
    CREATE TABLE deletions (
        folder_key TEXT NOT NULL, path_key TEXT NOT NULL, deleted_at REAL NOT NULL);
    CREATE INDEX deletions_by_folder ON deletions (folder_key, deleted_at);
    ALTER TABLE pending ADD COLUMN next_check REAL;
    ALTER TABLE pending ADD COLUMN checks INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE holds (
        name TEXT PRIMARY KEY, reason TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_try REAL NOT NULL, since REAL NOT NULL);
    CREATE TABLE waiting (
        folder_key TEXT NOT NULL, rel_path TEXT NOT NULL, reason TEXT NOT NULL,
        next_check REAL, PRIMARY KEY (folder_key, rel_path));
    """,
    # 4: ctime joins the hash key (-1: stored before, see hash_cache.LEGACY_CTIME), and when
    # a file was read, for the periodic re-hash of shares whose keys cannot see every write.
    """
    ALTER TABLE hashes ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT -1;
    ALTER TABLE hashes ADD COLUMN hashed_at REAL NOT NULL DEFAULT 0;
    UPDATE hashes SET hashed_at = CAST(strftime('%s', 'now') AS REAL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
