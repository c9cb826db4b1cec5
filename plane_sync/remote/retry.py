"""Retry policy: how often and how long to wait. No I/O here; callers do the sleeping."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Answers worth another try: the server was busy or broken, not the request.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    ``attempts`` counts the first try: 5 means up to 4 retries. The wait before retry ``n``
    (1-based) is uniform in ``[0, min(max_delay, base_delay * 2 ** (n - 1))]``, so callers
    that failed together do not come back together. A server's Retry-After overrides it.
    429 answers are counted apart (``throttled_attempts``): they are pacing, not failure.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    throttled_attempts: int = 10  # 429s tolerated per request; they wait Retry-After, not backoff
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return self.rng.uniform(0.0, cap)

    def wait_for(self, retry_number: int, retry_after: float | None) -> float:
        """The wait before a retry: the server's Retry-After if it gave one, else backoff."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.backoff(retry_number)


NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (Plane sends integer seconds); None if absent/odd."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
