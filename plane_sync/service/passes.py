"""How often one target may get a pass, and noticing passes that go round in circles.

Every pass lists the work item's attachments (one request of Plane's 60 a minute) and walks
the folder (a network round trip per directory on a share). Passes of one target are
therefore:

- **bounded**: at most ``per_minute`` start within any minute; a pass asked for sooner is
  not dropped but moved to the first free moment, where it takes everything asked for
  meanwhile along (the scheduler keeps one due time per target). Said once when the bound
  starts to hold a target back, and once when it no longer does.
- **watched for a loop**: a pass that uploads, deletes and fails nothing, over a listing
  identical to the pass before (``PassReport.fingerprint``), changed nothing. ``loop_after``
  of those in a row, each asked for by a claim that files changed (hints, files still
  settling: ``note_trigger(..., claims_change=True)``) and each within ``loop_window``
  seconds of the one before (and within half the folder's rescan interval), mean something
  keeps saying files change although none does: a bug. Passes asked for otherwise (a share
  that came back, a periodic rescan) neither count nor break the count. It is logged once, with what
  asked for the passes, and the target then gets at most one pass per ``loop_gap`` seconds
  until a pass changes something or nothing asks for one for a while.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import structlog

from plane_sync.sync.outcome import PassReport

log = structlog.get_logger(__name__)

PER_MINUTE = 10
LOOP_AFTER = 6
LOOP_WINDOW = 30.0
LOOP_GAP = 60.0


@dataclass
class _History:
    starts: deque[float] = field(default_factory=deque)
    fingerprint: int | None = None
    last_start: float | None = None
    idle_streak: int = 0  # passes in a row that changed nothing, close together
    looping: bool = False
    limited: bool = False
    claimed_change: bool = False  # what asked for the next pass says files changed
    triggers: deque[str] = field(default_factory=lambda: deque(maxlen=5))


class PassGovernor:
    def __init__(self, *, per_minute: int = PER_MINUTE, loop_after: int = LOOP_AFTER,
                 loop_window: float = LOOP_WINDOW, loop_gap: float = LOOP_GAP) -> None:
        self.per_minute = per_minute
        self.loop_after = loop_after
        self.loop_window = loop_window
        self.loop_gap = loop_gap
        self._targets: dict[str, _History] = {}

    def note_trigger(self, key: str, reason: str, *, claims_change: bool) -> None:
        """Something asked for a pass over ``key``; ``claims_change``: because files changed
        (kept for the loop report)."""
        history = self._history(key)
        history.claimed_change |= claims_change
        if reason not in history.triggers:
            history.triggers.append(reason)

    def next_allowed(self, key: str, now: float, *, where: str = "") -> float:
        """When a pass over ``key`` may start (``now`` or later)."""
        history = self._history(key)
        while history.starts and history.starts[0] <= now - 60.0:
            history.starts.popleft()
        allowed = now
        if len(history.starts) >= self.per_minute:
            allowed = history.starts[0] + 60.0
        if history.looping and history.last_start is not None:
            allowed = max(allowed, history.last_start + self.loop_gap)
        limited = allowed > now and not history.looping
        if limited != history.limited:
            history.limited = limited
            if limited:
                log.info("sync.passes_limited", folder=where, per_minute=self.per_minute,
                         note="changes keep coming; passes are gathered up to this rate")
            else:
                log.info("sync.passes_unlimited", folder=where)
        return allowed

    def record(self, key: str, started: float, report: PassReport, *,
               rescan_interval: float) -> None:
        """A pass over ``key`` that started at ``started`` ended with ``report``."""
        history = self._history(key)
        history.starts.append(started)
        changed = bool(report.uploaded or report.deleted or report.failed) \
            or report.fingerprint != history.fingerprint
        # While looping, passes come every loop_gap: still the same loop.
        window = self.loop_gap * 1.5 if history.looping \
            else min(self.loop_window, rescan_interval / 2)
        close = history.last_start is not None and started - history.last_start <= window
        claimed, history.claimed_change = history.claimed_change, False
        history.fingerprint = report.fingerprint
        history.last_start = started
        if changed or not close:
            history.idle_streak = 0
            if history.looping:
                history.looping = False
                log.info("sync.loop_ended", folder=report.path, work_item=report.label)
            return
        if not claimed:
            return  # a share back, a rescan: asked for by something else than a file change
        history.idle_streak += 1
        if history.idle_streak >= self.loop_after and not history.looping:
            history.looping = True
            log.warning("sync.loop_detected", folder=report.path, work_item=report.label,
                        passes=history.idle_streak + 1, triggers=list(history.triggers),
                        waiting=[p for p, _ in report.waiting[:5]],
                        note=f"passes keep coming although no file changes; at most one "
                             f"every {self.loop_gap:.0f}s until one changes something")

    def forget(self, key: str) -> None:
        self._targets.pop(key, None)

    def _history(self, key: str) -> _History:
        history = self._targets.get(key)
        if history is None:
            history = self._targets[key] = _History()
        return history
