"""Plain records the state database stores and returns, and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FIRST_RETRY_DELAY = 60.0  # seconds
MAX_RETRY_DELAY = 6 * 3600.0
# A hold on every upload is the server's trouble, not a file's: looked at again as soon as the
# daemon's backoff on Plane trouble would (5 s doubling to 5 min), so that uploads resume
# within seconds of the trouble ending; each look costs one file's upload.
FIRST_PAUSE, MAX_PAUSE = 5.0, 300.0

FolderState = Literal["ok", "waiting", "unavailable", "not_responding", "held", "error"]


@dataclass(frozen=True)
class JournalEntry:
    """An attachment created in Plane whose upload is not known to be complete."""

    attachment_id: str
    folder_key: str
    project_id: str
    work_item_id: str
    rel_path: str
    external_id: str
    created_at: float


@dataclass(frozen=True)
class Intent:
    """A create about to be sent: if the process dies before the journal entry, a 409
    on this (work item, external id) is our own orphan."""

    folder_key: str
    work_item_id: str
    external_id: str
    rel_path: str
    created_at: float


@dataclass(frozen=True)
class Failure:
    folder_key: str
    rel_path: str
    reason: str
    attempts: int
    next_retry_at: float | None  # None when permanent
    first_failed_at: float
    permanent: bool


@dataclass(frozen=True)
class Skip:
    folder_key: str
    rel_path: str
    reason: str
    fingerprint: str


@dataclass(frozen=True)
class PendingConflict:
    """Another machine's attachment for this file, seen still pending since first_seen;
    looked at again at ``next_check`` (wall clock), after ``checks`` looks so far."""

    folder_key: str
    rel_path: str
    attachment_id: str
    first_seen: float
    next_check: float | None = None
    checks: int = 0


@dataclass(frozen=True)
class Pause:
    """A condition that holds back every upload until ``next_try`` (wall clock), such as a
    storage host that refuses Plane's upload policies as expired."""

    name: str
    reason: str
    attempts: int
    next_try: float
    since: float


@dataclass(frozen=True)
class FolderStatus:
    folder_key: str
    path: str
    work_item_label: str
    last_sync_at: float | None
    files_in_sync: int
    pending: int
    failed: int
    skipped: int
    state: FolderState
    reason: str | None


@dataclass(frozen=True)
class DaemonStatus:
    pid: int
    activity: str
    updated_at: float


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 1 min doubling, capped at 6 h."""
    if attempts < 1:
        return 0.0
    return min(FIRST_RETRY_DELAY * 2.0 ** min(attempts - 1, 32), MAX_RETRY_DELAY)


def pause_delay(attempts: int) -> float:
    """Seconds a hold on every upload lasts after its ``attempts``-th cause: 5 s doubling,
    capped at 5 min."""
    if attempts < 1:
        return 0.0
    return min(FIRST_PAUSE * 2.0 ** min(attempts - 1, 32), MAX_PAUSE)
