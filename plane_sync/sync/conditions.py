"""Lasting conditions, said once when they start (or change) and once when they end.

A folder held back, a subfolder that maps to no work item, a folder that is away: each is
found again on every pass, and a log that repeats it every pass buries what changed. A
condition is known by a key; :meth:`Conditions.start` logs only when the key is new or its
fields changed, :meth:`Conditions.end` only when the key was active.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from structlog.typing import FilteringBoundLogger


class Conditions:
    def __init__(self, log: FilteringBoundLogger) -> None:
        self._log = log
        self._active: dict[Hashable, tuple[str, dict[str, Any]]] = {}

    def start(self, key: Hashable, event: str, *, level: str = "warning",
              **fields: Any) -> bool:
        """Say ``event`` unless the same condition is already said; True when logged."""
        if self._active.get(key) == (event, fields):
            return False
        self._active[key] = (event, fields)
        getattr(self._log, level)(event, **fields)
        return True

    def end(self, key: Hashable, event: str, **fields: Any) -> bool:
        """Say ``event`` (at info) when ``key`` was active; True when logged."""
        if self._active.pop(key, None) is None:
            return False
        self._log.info(event, **fields)
        return True

    def active(self, prefix: tuple[Hashable, ...]) -> list[Hashable]:
        """The active keys (tuples) that start with ``prefix``."""
        n = len(prefix)
        return [k for k in self._active
                if isinstance(k, tuple) and k[:n] == prefix]
