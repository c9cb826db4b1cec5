"""Build what every command needs from a Config: the Plane client, the state database, the
state-directory lock. Shared by ``sync``, ``run`` and ``demo``."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import structlog

from plane_sync.config.types import Config
from plane_sync.errors import PlaneSyncError
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.size_limit import SizeLimit
from plane_sync.sync.state import StateDB

log = structlog.get_logger(__name__)

STATE_FILE = "state.db"
LOCK_FILE = "lock"


class StateDirBusy(PlaneSyncError):
    title = "Another plane-sync is running"


def open_client(config: Config, *, sleep: Callable[[float], None] = time.sleep) -> PlaneClient:
    """``sleep`` is every wait of the client (rate limit, backoff): the daemon's ends early
    with Interrupted when it is told to stop."""
    plane = config.plane
    return PlaneClient(plane.url, plane.api_key, plane.workspace, rate_limit=plane.rate_limit,
                       timeout=plane.timeout,
                       ca_bundle=str(plane.ca_bundle) if plane.ca_bundle else None,
                       sleep=sleep)


def ensure_state_dir(path: Path) -> Path:
    """Create ``path`` 0700; tighten it to 0700 when it exists with looser permissions.

    The database names the files and folders of the user's tree and which work items they
    go to. mkdir's mode does nothing for a directory that already exists (made by hand, or
    by an older version), so that one is tightened here (only when it is ours).
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path, 0o700)
    return path


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_mode & 0o777 & ~mode and info.st_uid == os.geteuid():
        path.chmod(mode)
        log.warning("state.permissions_tightened", path=str(path),
                    was=oct(info.st_mode & 0o777), now=oct(mode))


def private_database(path: Path) -> Path:
    """Make sure the database file exists 0600 before SQLite opens it.

    SQLite creates a new database with 0644 (under the usual umask) and gives its -wal and
    -shm files the database's mode, so creating the file first makes all three private.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _tighten(file, 0o600)
    return path


def open_state(config: Config) -> StateDB:
    return StateDB(private_database(ensure_state_dir(config.state_dir) / STATE_FILE))


def size_limit_source(config: Config, client: PlaneClient) -> SizeLimit:
    """The configured limit, or the server's, asked again while unknown (see SizeLimit)."""
    if config.plane.file_size_limit is not None:
        return SizeLimit.constant(config.plane.file_size_limit)
    return SizeLimit(client.read_file_size_limit)


class StateLock:
    """An exclusive flock on ``<state_dir>/lock``: one writer per state directory.

    Several machines on one share each have their own state directory; this only stops two
    processes of one machine from journalling into the same database at once.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = ensure_state_dir(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateDirBusy(
                f"process {holder} already uses the state directory {self.path.parent}: a "
                "running daemon already syncs every folder. Ask it to rescan now with "
                "plane-sync rescan (or sync --now); sync --dry-run works beside it. Or stop "
                "it first, or give this run another state_dir.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def still_ours(self) -> bool:
        """Whether the lock file at the path is still the one we hold: deleting the state
        directory (or the lock file) under us would let another process take a new one."""
        if self._fd is None:
            return False
        try:
            here = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self._fd)
        return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)

    def reacquire(self) -> None:
        """Take the lock again at its path (recreating the directory); StateDirBusy when
        another process got there first."""
        self.release()
        ensure_state_dir(self.path.parent)
        self.acquire()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
