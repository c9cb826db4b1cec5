"""Injected failures, changeable at runtime from any thread."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FaultSettings:
    error_rate: float = 0.0  # share of API requests answered 500
    drop_rate: float = 0.0  # share of API requests whose connection is closed unanswered
    delay: float = 0.0  # seconds to sleep before answering an API request
    storm_429: int = 0  # the next N API requests answer 429
    expire_policies: bool = False  # presigned POST policies are issued already expired
    storage_error_rate: float = 0.0  # share of storage POSTs answered 503 SlowDown
    only: frozenset[str] | None = None  # HTTP methods the faults apply to (None = all)
    lose_answers: int = 0  # the next N API requests are carried out, then left unanswered
    plane_clock_behind: float = 0.0  # seconds Plane's clock (policy signing) lags storage's
    instance_down: bool = False  # GET /api/instances/ answers 503: the size limit is unknown


@dataclass(frozen=True)
class ApiFault:
    """What to do with one API request: sleep ``delay`` first, then ``action`` (or answer)."""

    delay: float
    action: str | None  # None | "drop" | "error" | "429" | "lose" (act, then drop)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._random = random.Random()

    def set(
        self,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        delay: float = 0.0,
        storm_429: int = 0,
        expire_policies: bool = False,
        storage_error_rate: float = 0.0,
        seed: int | None = None,
        only: Iterable[str] | None = None,
        lose_answers: int = 0,
        plane_clock_behind: float = 0.0,
        instance_down: bool = False,
    ) -> None:
        """Replace every setting at once (unnamed ones go back to "no fault")."""
        settings = FaultSettings(
            error_rate, drop_rate, delay, storm_429, expire_policies, storage_error_rate,
            None if only is None else frozenset(m.upper() for m in only),
            lose_answers, plane_clock_behind, instance_down,
        )
        with self._lock:
            self._settings = settings
            self._random = random.Random(seed)

    def clear(self) -> None:
        self.set()

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def _applies(self, method: str) -> bool:
        only = self._settings.only
        return only is None or method.upper() in only

    def for_api(self, method: str) -> ApiFault:
        with self._lock:
            s = self._settings
            if not self._applies(method):
                return ApiFault(0.0, None)
            if s.storm_429 > 0:
                self._settings = replace(s, storm_429=s.storm_429 - 1)
                return ApiFault(s.delay, "429")
            if s.lose_answers > 0:
                self._settings = replace(s, lose_answers=s.lose_answers - 1)
                return ApiFault(s.delay, "lose")
            roll = self._random.random()
            if roll < s.drop_rate:
                return ApiFault(s.delay, "drop")
            if roll < s.drop_rate + s.error_rate:
                return ApiFault(s.delay, "error")
            return ApiFault(s.delay, None)

    def storage_error(self, method: str) -> bool:
        with self._lock:
            s = self._settings
            return self._applies(method) and self._random.random() < s.storage_error_rate

    def policies_expired(self) -> bool:
        return self.settings.expire_policies
