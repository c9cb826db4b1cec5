"""What a pass reports back: the PassReport, and the Progress hooks a display plugs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

STOPPED_BEFORE = "not uploaded yet: the pass stopped first (paused, or the daemon stopping)"


@dataclass
class PassReport:
    """What one pass over one target did (or, in a dry run, would do)."""

    target_key: str
    label: str
    path: str
    uploaded: list[tuple[str, int]] = field(default_factory=list)  # (rel_path, bytes)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (name, reason): file just gone
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    # (rel_path, bytes): uploads going on after the pass (large files, the daemon's)
    background: list[tuple[str, int]] = field(default_factory=list)
    held: str | None = None
    paused: str | None = None  # every upload is held back for a while, and why
    next_check: dict[str, float] = field(default_factory=dict)  # waiting path -> wall time
    differences: list[tuple[str, str]] = field(default_factory=list)  # verify: (path, what)
    unavailable: str | None = None
    error: str | None = None  # the work item could not be listed: nothing was done
    # direction both: (rel_path, bytes) written from Plane, (copy, path) conflict copies
    # (also in downloaded), (rel_path, reason) files moved to the trash.
    downloaded: list[tuple[str, int]] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    trashed: list[tuple[str, str]] = field(default_factory=list)
    in_sync: int = 0
    api_calls: int = 0
    stopped: bool = False  # the stop flag ended the pass early (paused, or stopping)
    listed: bool = False  # Plane was asked for the work item's attachments
    fingerprint: int = 0  # of the scan's listing (see ScanResult.fingerprint)
    hashed: int = 0  # files read this pass, and their bytes
    hashed_bytes: int = 0
    cpu_seconds: float = 0.0  # CPU time of the thread that ran the pass

    @property
    def ok(self) -> bool:
        return not self.failed and self.unavailable is None and self.error is None

    @property
    def in_sync_now(self) -> bool:
        """Whether the work item holds exactly the folder's files after this pass: nothing
        failed, waits, is held or paused or still uploading, and the folder could be
        compared at all. A pass that wrote a conflict copy is not either: someone has to look
        (said once: the next pass finds the copy in place)."""
        return (self.ok and not self.waiting and not self.held and self.paused is None
                and not self.differences and not self.conflicts and not self.background)

    def wait(self, rel_path: str, reason: str, next_check: float | None = None) -> None:
        """Leave ``rel_path`` waiting; ``next_check`` (wall clock): when to look again."""
        self.waiting.append((rel_path, reason))
        if next_check is not None:
            self.next_check[rel_path] = min(next_check, self.next_check.get(rel_path, next_check))


class StopFlag(Protocol):
    """What the engine asks before each action: set means start no new one (a
    ``threading.Event``, or the daemon's stop-or-paused check)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Progress:
    """Called before and after each upload, for a progress display."""

    on_plan: Callable[[int, int], None] = lambda files, total_bytes: None
    on_file_start: Callable[[str, int], None] = lambda rel_path, size: None
    on_file_done: Callable[[int], None] = lambda nbytes: None
    on_bytes: Callable[[int], None] = lambda nbytes: None  # each chunk sent to storage
