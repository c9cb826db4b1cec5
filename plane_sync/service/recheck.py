"""Re-checks: listing work items whose folders did not change, within a share of the budget.

A pass over a folder that did not change since its last clean pass does not ask Plane
(:mod:`plane_sync.sync.unchanged`), so a rescan of hundreds of mapped work items costs no
request. What such a pass cannot see is a change on Plane's side: an attachment deleted by
hand, which the next listing would show and the pass would upload again. Re-checks list them
anyway, the one listed longest ago first, at most once per folder's ``rescan_interval`` each,
and all together at most ``share`` of the requests the rate limit allows (a token bucket
refilled at ``share`` x the limiter's rate, holding one token: re-checks come one at a time,
evenly spaced). Uploads and deletions are not counted against the share; re-checks come
after them in each turn of the daemon's loop.

So the idle cost no longer grows with the number of work items: it is at most
``min(items / rescan_interval, share x rate)``. And each work item's attachments are listed
at least every ``max(rescan_interval, items / (share x rate))``: with Plane's default limit
(60 requests a minute), the default share (10 %, 6 re-checks a minute) and the default
``rescan_interval`` (10 minutes), every 10 minutes up to 60 work items, every 50 minutes with
300, every 2 h 47 min with 1,000 (the README states the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

BUCKET = 1.0  # tokens the bucket holds: re-checks never come in a burst


class Rechecks:
    def __init__(self, share: float, rate: Callable[[], float]) -> None:
        self.share = share
        self.rate = rate  # requests a second the rate limit allows now (as learned)
        self._listed: dict[str, float] = {}  # target key -> when last listed (monotonic)
        self._tokens = BUCKET
        self._refilled_at: float | None = None

    def listed(self, key: str, now: float) -> None:
        """A pass listed ``key``'s work item (a re-check or not)."""
        self._listed[key] = now

    def forget(self, key: str) -> None:
        self._listed.pop(key, None)

    def last_listed(self, key: str) -> float | None:
        return self._listed.get(key)

    def due(self, now: float, intervals: Mapping[str, float]) -> list[str]:
        """The targets to re-check now, among ``intervals`` (target key -> its folder's
        rescan_interval): listed longer ago than that, oldest first, as the share allows.
        Targets never listed are not re-checked: their next pass lists anyway."""
        self._refill(now)
        if self._tokens < 1.0:
            return []
        stale = sorted((when, key) for key, when in self._listed.items()
                       if key in intervals and now - when >= intervals[key])
        chosen = [key for _, key in stale[:int(self._tokens)]]
        self._tokens -= len(chosen)
        return chosen

    def next_at(self, now: float, intervals: Mapping[str, float]) -> float | None:
        """When :meth:`due` may next have something (for the loop's sleep)."""
        ages = [when + intervals[key] for key, when in self._listed.items() if key in intervals]
        if not ages:
            return None
        self._refill(now)
        per_second = self.share * self.rate()
        tokens_at = now if self._tokens >= 1.0 or per_second <= 0 \
            else now + (1.0 - self._tokens) / per_second
        return max(min(ages), tokens_at)

    def _refill(self, now: float) -> None:
        if self._refilled_at is not None:
            gained = (now - self._refilled_at) * self.share * self.rate()
            self._tokens = min(BUCKET, self._tokens + gained)
        self._refilled_at = now
