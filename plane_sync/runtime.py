"""Build what every command needs from a Config: the Plane client, the state database, the
state-directory lock. Shared by ``sync``, ``run`` and ``demo``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from plane_sync.config_types import Config
from plane_sync.errors import PlaneSyncError
from plane_sync.plane import PlaneClient
from plane_sync.state import StateDB

STATE_FILE = "state.db"
LOCK_FILE = "lock"


class StateDirBusy(PlaneSyncError):
    title = "Another plane-sync is running"


def open_client(config: Config) -> PlaneClient:
    plane = config.plane
    return PlaneClient(plane.url, plane.api_key, plane.workspace, rate_limit=plane.rate_limit,
                       timeout=plane.timeout,
                       ca_bundle=str(plane.ca_bundle) if plane.ca_bundle else None)


def ensure_state_dir(path: Path) -> Path:
    # 0700: the database names files and folders of the user's tree.
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def open_state(config: Config) -> StateDB:
    return StateDB(ensure_state_dir(config.state_dir) / STATE_FILE)


def size_limit_for(config: Config, client: PlaneClient) -> int:
    if config.plane.file_size_limit is not None:
        return config.plane.file_size_limit
    return client.file_size_limit()


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
                f"process {holder} already uses the state directory {self.path.parent}. "
                "Stop it first (a running daemon already syncs every folder), or give this "
                "run another state_dir.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
