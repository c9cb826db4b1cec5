from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.errors import StateError
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import CachedHash, FileKey, scan_folder
from plane_sync.sync.schema import MIGRATIONS
from plane_sync.sync.state import (
    MAX_RETRY_DELAY,
    SCHEMA_VERSION,
    FolderStatus,
    JournalEntry,
    PendingConflict,
    StateDB,
    retry_delay,
)

FOLDER = "docs"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB(tmp_path / "state" / "state.db") as opened:
        yield opened


def status(folder_key: str = FOLDER, files: int = 3) -> FolderStatus:
    return FolderStatus(folder_key=folder_key, path="/srv/docs", work_item_label="PROJ-12",
                        last_sync_at=1000.0, files_in_sync=files, pending=0, failed=1,
                        skipped=2, state="ok", reason=None)


def test_new_database_is_in_wal_mode_with_current_schema(db: StateDB) -> None:
    assert db.journal_mode() == "wal"
    assert db.schema_version() == SCHEMA_VERSION


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateDB(path) as first:
        first.set_folder_status(status())
    with StateDB(path) as second:
        assert second.folder_statuses() == [status()]
        assert second.schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateDB(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StateError, match="newer plane-sync"):
        StateDB(path)


def test_corrupt_file_gives_a_clear_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with pytest.raises(StateError) as caught:
        StateDB(path)
    message = str(caught.value)
    assert str(path) in message
    assert "corrupt" in message and "move it away" in message
    assert "Plane's attachment list is the truth" in message


def test_readers_are_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateDB(path) as daemon:
        daemon.set_folder_status(status(files=3))
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE folder_status SET files_in_sync = 99")
            # Another StateDB in this process reads the last committed state.
            with StateDB(path) as reader:
                assert [s.files_in_sync for s in reader.folder_statuses()] == [3]
            # And so does another process (think `plane-sync status`).
            script = (
                "import json, sys\n"
                "from pathlib import Path\n"
                "from plane_sync.sync.state import StateDB\n"
                "db = StateDB(Path(sys.argv[1]))\n"
                "print(json.dumps([s.files_in_sync for s in db.folder_statuses()]))\n"
            )
            out = subprocess.run([sys.executable, "-c", script, str(path)], check=True,
                                 capture_output=True, text=True, timeout=60)
            assert json.loads(out.stdout) == [3]
            writer.execute("COMMIT")
        finally:
            writer.close()
        assert [s.files_in_sync for s in daemon.folder_statuses()] == [99]


def test_threads_share_one_database(db: StateDB) -> None:
    def work(n: int) -> None:
        for i in range(50):
            db.record_failure(FOLDER, f"t{n}/f{i}", "boom", now=float(i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(db.failures(FOLDER)) == 200


def test_journal_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = JournalEntry("att-1", FOLDER, "proj", "item", "a/b.pdf", "sha256:ab", 10.0)
    second = JournalEntry("att-2", FOLDER, "proj", "item", "c.txt", "sha256:cd", 20.0)
    with StateDB(path) as db:
        db.journal_add(second)
        db.journal_add(first)
    with StateDB(path) as db:  # survives a restart (the point of a journal)
        assert db.journal_entries() == [first, second]
        db.journal_remove("att-1")
        db.journal_remove("att-unknown")  # removing twice is harmless
        assert db.journal_entries() == [second]


def test_retry_delay_doubles_from_a_minute_to_six_hours() -> None:
    assert [retry_delay(n) for n in range(1, 6)] == [60, 120, 240, 480, 960]
    assert retry_delay(9) == 15360
    assert retry_delay(10) == MAX_RETRY_DELAY == 6 * 3600
    assert retry_delay(1000) == MAX_RETRY_DELAY


def test_failure_backoff_schedule(db: StateDB) -> None:
    assert db.should_retry(FOLDER, "f.pdf", now=0.0)
    first = db.record_failure(FOLDER, "f.pdf", "storage 500", now=1000.0)
    assert (first.attempts, first.next_retry_at, first.first_failed_at) == (1, 1060.0, 1000.0)
    assert not db.should_retry(FOLDER, "f.pdf", now=1059.0)
    assert db.should_retry(FOLDER, "f.pdf", now=1060.0)
    second = db.record_failure(FOLDER, "f.pdf", "storage 503", now=1060.0)
    assert (second.attempts, second.next_retry_at, second.first_failed_at) == (2, 1180.0, 1000.0)
    assert db.failures() == [second]
    assert db.failures("other-folder") == []
    db.clear_failure(FOLDER, "f.pdf")
    assert db.failures() == []
    assert db.should_retry(FOLDER, "f.pdf", now=1061.0)


def test_permanent_failure_is_never_retried(db: StateDB) -> None:
    failure = db.record_failure(FOLDER, "big.iso", "too large", now=5.0, permanent=True)
    assert failure.permanent and failure.next_retry_at is None
    assert not db.should_retry(FOLDER, "big.iso", now=1e12)


def test_skip_is_reported_once_until_it_changes(db: StateDB) -> None:
    assert db.record_skip(FOLDER, "a.exe", "type not allowed", "fp1") is True
    assert db.record_skip(FOLDER, "a.exe", "type not allowed", "fp1") is False
    assert db.record_skip(FOLDER, "a.exe", "type not allowed", "fp2") is True
    assert db.record_skip(FOLDER, "a.exe", "too large", "fp2") is True
    assert db.record_skip(FOLDER, "b.exe", "type not allowed", "fp") is True
    db.clear_skips_except(FOLDER, {"b.exe"})
    assert [s.rel_path for s in db.skips(FOLDER)] == ["b.exe"]
    assert db.record_skip(FOLDER, "a.exe", "too large", "fp2") is True  # back: shown again


def test_pending_conflicts_keep_their_first_sighting(db: StateDB) -> None:
    db.note_pending(FOLDER, "x.pdf", "att-9", first_seen=100.0)
    again = db.note_pending(FOLDER, "x.pdf", "att-9", first_seen=500.0)
    assert again.first_seen == 100.0
    db.note_pending(FOLDER, "y.pdf", "att-10", first_seen=200.0)
    assert [(p.rel_path, p.first_seen) for p in db.pending(FOLDER)] == [
        ("x.pdf", 100.0), ("y.pdf", 200.0)]
    db.clear_pending(FOLDER, "att-9")
    assert [p.attachment_id for p in db.pending(FOLDER)] == ["att-10"]
    db.clear_pending(FOLDER)
    assert db.pending(FOLDER) == []


def test_folder_and_daemon_status(db: StateDB) -> None:
    assert db.daemon_status() is None
    db.set_daemon_status(os.getpid(), "scanning docs", 123.0)
    db.set_daemon_status(os.getpid(), "idle", 124.0)
    daemon = db.daemon_status()
    assert daemon is not None and (daemon.activity, daemon.updated_at) == ("idle", 124.0)
    db.set_folder_status(status("b"))
    db.set_folder_status(status("a"))
    unavailable = FolderStatus("a", "/mnt/share", "PROJ-1", None, 0, 0, 0, 0, "unavailable",
                               "folder /mnt/share does not exist (not mounted?)")
    db.set_folder_status(unavailable)
    assert db.folder_statuses() == [unavailable, status("b")]


def test_remove_folder_forgets_everything_about_it(db: StateDB) -> None:
    db.record_failure(FOLDER, "f", "x", now=0.0)
    db.record_skip(FOLDER, "g", "x", "fp")
    db.set_folder_status(status())
    db.remove_folder(FOLDER)
    assert db.failures() == [] and db.skips() == [] and db.folder_statuses() == []


def _hashes(entry: CachedHash | None) -> tuple[str, str] | None:
    return None if entry is None else (entry.sha256, entry.md5)


def test_hash_cache_misses_when_inode_size_mtime_or_ctime_change(db: StateDB) -> None:
    key = FileKey("a.pdf", dev=1, ino=2, size=3, mtime_ns=4, ctime_ns=5)
    with db.hash_cache(FOLDER) as writer:
        writer.put(key, "sha", "md5")
    cache = db.hash_cache(FOLDER)  # a fresh load from the database
    entry = cache.get(key)
    assert _hashes(entry) == ("sha", "md5")
    assert entry is not None and abs(entry.hashed_at - time.time()) < 60
    assert cache.get(key._replace(ino=20)) is None
    assert cache.get(key._replace(size=30)) is None
    assert cache.get(key._replace(mtime_ns=40)) is None
    assert cache.get(key._replace(ctime_ns=50)) is None
    assert cache.get(key._replace(dev=10)) is None
    assert db.hash_cache("other-folder").get(key) is None


def test_hash_cache_serves_a_real_scan_and_prunes(db: StateDB, tmp_path: Path) -> None:
    root = tmp_path / "folder"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    (root / "b.txt").write_bytes(b"b")
    first = scan_folder(root, IgnoreRules(), cache=db.hash_cache(FOLDER))  # flushes at the end

    class NoHashing:
        """Fails the test if the scan has to hash anything."""

        def __init__(self) -> None:
            self.inner = db.hash_cache(FOLDER)

        def get(self, key: FileKey) -> CachedHash | None:
            return self.inner.get(key)

        def put(self, key: FileKey, sha256: str, md5: str) -> None:
            raise AssertionError(f"{key.rel_path} was hashed again")

        def flush(self) -> None:
            self.inner.flush()

    assert scan_folder(root, IgnoreRules(), cache=NoHashing()).files == first.files
    (root / "b.txt").unlink()
    assert db.prune_hashes(FOLDER, {"a.txt"}) == 1
    assert db.prune_hashes(FOLDER, {"a.txt"}) == 0
    cache = db.hash_cache(FOLDER)
    assert [cache.get(FileKey(f.rel_path, 0, 0, 0, 0)) for f in first.files] == [None, None]


def test_hash_cache_writes_in_batches(db: StateDB) -> None:
    keys = [FileKey(f"f{i}", 1, i, 1, 1) for i in range(3)]
    writer = db.hash_cache(FOLDER)
    writer.FLUSH_EVERY = 2
    for key in keys:
        writer.put(key, "s", "m")
    assert _hashes(writer.get(keys[2])) == ("s", "m")  # visible to its own scan at once
    stored = db.hash_cache(FOLDER)
    assert [_hashes(stored.get(k)) for k in keys] == [("s", "m"), ("s", "m"), None]
    writer.flush()
    assert _hashes(db.hash_cache(FOLDER).get(keys[2])) == ("s", "m")


def test_intents_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateDB(path) as db:
        db.intent_add(FOLDER, "item-1", "sha256:aa", "a.pdf", 1.0)
        db.intent_add(FOLDER, "item-1", "sha256:bb", "b.pdf", 2.0)
        db.intent_remove("item-1", "sha256:aa")
    with StateDB(path) as db:
        assert [(i.work_item_id, i.external_id, i.rel_path) for i in db.intents()] == [
            ("item-1", "sha256:bb", "b.pdf")]


def test_version_one_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:  # what a database from schema 1 looked like
        conn.executescript(MIGRATIONS[0])
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO pending VALUES ('f', 'a', 'att', 5.0)")
    conn.close()
    with StateDB(path) as db:
        assert db.schema_version() == SCHEMA_VERSION == 4
        db.intent_add(FOLDER, "item", "ext", "a", 1.0)
        assert len(db.intents()) == 1
        assert db.pending("f") == [PendingConflict("f", "a", "att", 5.0, None, 0)]
        db.add_seen("f", "item", [("k", "a")])
        assert db.seen_paths("f", "item") == {"k": "a"}


def test_hash_cache_retain_forgets_files_no_longer_seen(db: StateDB) -> None:
    cache = db.hash_cache("f")
    cache.put(FileKey("a.txt", 1, 2, 3, 4), "s" * 64, "m" * 32)
    cache.put(FileKey("b.txt", 1, 3, 3, 4), "t" * 64, "n" * 32)
    cache.retain({"b.txt"})
    assert cache.get(FileKey("a.txt", 1, 2, 3, 4)) is None
    assert _hashes(cache.get(FileKey("b.txt", 1, 3, 3, 4))) == ("t" * 64, "n" * 32)


def test_hashes_from_schema_2_are_trusted_once_more_and_gain_the_ctime(tmp_path: Path) -> None:
    """After the upgrade a local folder is not read again: a row stored without ctime
    matches on what was checked then (inode, size, mtime), and is stored again with it."""
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:  # a schema 2 database with one row
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (2)")
        conn.execute("INSERT INTO hashes VALUES (?, 'a.txt', 7, 2, 3, 4, 'sha', 'md5')",
                     (FOLDER,))
    conn.close()
    key = FileKey("a.txt", dev=7, ino=2, size=3, mtime_ns=4, ctime_ns=99)
    with StateDB(path) as db:
        with db.hash_cache(FOLDER) as cache:
            assert _hashes(cache.get(key)) == ("sha", "md5")
            assert cache.get(key._replace(ino=5, ctime_ns=98)) is None
        again = db.hash_cache(FOLDER)
        assert _hashes(again.get(key)) == ("sha", "md5")  # now stored with ctime 99
        assert again.get(key._replace(ctime_ns=100)) is None
