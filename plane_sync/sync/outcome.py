"""What a pass reports back: the PassReport, and the Progress hooks a display plugs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class PassReport:
    """What one pass over one target did (or, in a dry run, would do)."""

    target_key: str
    label: str
    path: str
    uploaded: list[tuple[str, int]] = field(default_factory=list)  # (rel_path, bytes)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    held: str | None = None
    unavailable: str | None = None
    error: str | None = None  # the work item could not be listed: nothing was done
    in_sync: int = 0
    api_calls: int = 0
    fingerprint: int = 0  # of the scan's listing (see ScanResult.fingerprint)
    hashed: int = 0  # files read this pass, and their bytes
    hashed_bytes: int = 0
    cpu_seconds: float = 0.0  # CPU time of the thread that ran the pass

    @property
    def ok(self) -> bool:
        return not self.failed and self.unavailable is None and self.error is None


@dataclass(frozen=True)
class Progress:
    """Called before and after each upload, for a progress display."""

    on_plan: Callable[[int, int], None] = lambda files, total_bytes: None
    on_file_done: Callable[[int], None] = lambda nbytes: None
    on_bytes: Callable[[int], None] = lambda nbytes: None  # each chunk sent to storage
