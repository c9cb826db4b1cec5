"""Pacing against a real server whose clock is off: the emulator with ``clock_offset``, its
sliding-window limit, and the budget partly spent by another client of the same key."""

from __future__ import annotations

import time

import httpx
import pytest

from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient

pytestmark = pytest.mark.timeout(120)
LIMIT, WINDOW = 6, 3.0


@pytest.mark.parametrize("offset", [3600.0, -3600.0, 0.0])
def test_a_server_clock_an_hour_off_neither_freezes_nor_floods_the_pacing(
        offset: float) -> None:
    with Emulator(rate_limit=(LIMIT, WINDOW), clock_offset=offset) as emu:
        with httpx.Client(base_url=f"{emu.url}/api/v1",
                          headers={"X-API-Key": emu.api_key}) as other:
            for _ in range(4):  # the key's budget, partly used elsewhere
                assert other.get("/users/me/").status_code == 200
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            # A wait no window explains is the bug (a 3600 s offset once gave 1801 s here):
            # fail at once rather than sleep it.
            assert seconds <= WINDOW + 1.0, f"asked to wait {seconds:.0f} s"
            waits.append(seconds)
            time.sleep(seconds)

        emu.clear_requests()
        with PlaneClient(emu.url, emu.api_key, emu.workspace, rate_limit=(LIMIT, WINDOW),
                         sleep=sleep) as client:
            for _ in range(2 * LIMIT):
                client.me()
            assert client.limiter.skew == pytest.approx(offset, abs=1.5)
        answers = [r.status for r in emu.requests()]
        assert answers.count(200) == 2 * LIMIT
        assert answers.count(429) <= 3  # probes that learn the exact wait, not a flood
