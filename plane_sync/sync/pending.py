"""Someone else's upload of the same file version, still pending: when to look, when to act.

Plane answers 409 to a create whose external id an attachment of the work item already has,
pending ones included, and its listing hides pending attachments. When the 409 is not ours
(no intent of ours, no resent create), another machine syncing the same share may be sending
those very bytes right now. What Plane lets a client see of such an attachment is only its id:
the listing leaves it out (so no ``created_at``), a GET on it answers 400 "not uploaded", and
the 409 names nothing else. Its age can therefore only be measured from our own first sighting,
by our own clock; no remote clock is involved.

So: look again on a backoff (5 s, then 30 s doubling: a handful of requests, not one per pass;
the first look comes soon because most such uploads are done within seconds), and take
it over (delete it, upload ours) once it has stayed pending for longer than any live upload of
that size should take: five minutes plus the file at 256 KiB/s, at most an hour (the presigned
POST it was given expires after an hour, so it can never complete later). Taking over too early
costs only bandwidth: the other machine's PATCH then meets a deleted attachment, its upload
fails and is retried, and finds ours; nothing is duplicated or lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

CHECK_FIRST = 5.0  # seconds until the first look again
CHECK_THEN = 30.0  # ... and until the second, doubling from there
TAKEOVER_BASE = 300.0
TAKEOVER_RATE = 256 * 1024  # bytes per second a slow but live upload is assumed to manage
TAKEOVER_MAX = 3600.0  # the presigned POST's lifetime


def takeover_after(size: int) -> float:
    """Seconds a pending attachment of ``size`` bytes is left to its owner."""
    return min(TAKEOVER_BASE + size / TAKEOVER_RATE, TAKEOVER_MAX)


def check_delay(checks: int) -> float:
    """Seconds until the next look, after ``checks`` looks so far."""
    if checks <= 0:
        return CHECK_FIRST
    return CHECK_THEN * 2.0 ** min(checks - 1, 16)


def clock_time(ts: float) -> str:
    """A wall-clock time for messages: HH:MM:SS today, else with the date."""
    local = time.localtime(ts)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime()):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M:%S", local)


@dataclass(frozen=True)
class PendingWait:
    """A file left waiting on someone else's pending upload."""

    attachment_id: str
    next_check: float
    takeover_at: float

    @property
    def reason(self) -> str:
        return (f"another machine's upload of this version is pending (attachment "
                f"{self.attachment_id}); next check {clock_time(self.next_check)}, taken over "
                f"at {clock_time(self.takeover_at)} unless it completes")
