"""Injected faults and the request log."""

from __future__ import annotations

import httpx
import pytest

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path, create

ME = "/api/v1/users/me/"


def test_error_rate(emulator: Emulator) -> None:
    emulator.faults.set(error_rate=1.0)
    with api(emulator) as client:
        response = client.get(ME)
    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong please try again later"}


def test_drop_closes_without_answer(emulator: Emulator) -> None:
    emulator.faults.set(drop_rate=1.0)
    with api(emulator) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(ME)
    assert [r.status for r in emulator.requests()] == [0]


def test_storm_429_then_normal(emulator: Emulator) -> None:
    emulator.faults.set(storm_429=2)
    with api(emulator) as client:
        statuses = [client.get(ME) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "1"
    assert statuses[0].json() == {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}


def test_only_limits_faults_to_methods(emulator: Emulator) -> None:
    emulator.faults.set(error_rate=1.0, only={"POST"})
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        assert client.get(path).status_code == 200
        assert create(client, path).status_code == 500
    emulator.faults.clear()
    with api(emulator) as client:
        assert create(client, path).status_code == 200


def test_seeded_error_rate_is_repeatable(emulator: Emulator) -> None:
    def run() -> list[int]:
        emulator.faults.set(error_rate=0.5, seed=7)
        with api(emulator) as client:
            return [client.get(ME).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


def test_request_log(emulator: Emulator) -> None:
    with api(emulator) as client:
        client.get(ME, params={"a": "1"})
    record = emulator.requests()[-1]
    assert (record.server, record.method, record.path, record.query, record.status) == (
        "api", "GET", ME, "a=1", 200)
    assert record.headers["x-api-key"] == emulator.api_key
    emulator.clear_requests()
    assert emulator.requests() == []


def test_delay_makes_the_server_slow(emulator: Emulator) -> None:
    emulator.faults.set(delay=2.0)
    with api(emulator) as client, pytest.raises(httpx.ReadTimeout):
        client.get(ME, timeout=0.2)
