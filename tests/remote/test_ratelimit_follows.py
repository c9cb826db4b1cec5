"""The limiter follows a server limit it was not configured with, higher or lower, with zero
429s, and two processes pacing one key independently get none either (the emulator's
sliding window, shortened so that each case runs in seconds)."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from plane_sync.core.models import UploadResult
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.rate_learning import Limit
from plane_sync.remote.ratelimit import RateLimiter
from plane_sync.remote.upload import upload_file
from tests.conftest import EmulatorFactory

pytestmark = pytest.mark.timeout(180)


def make_files(tmp_path: Path, count: int, prefix: str = "f") -> list[Path]:
    paths = []
    for n in range(count):
        path = tmp_path / f"{prefix}-{n:03d}.txt"
        path.write_bytes(f"{prefix} number {n}\n".encode())
        paths.append(path)
    return paths


def upload_all(client: PlaneClient, paths: list[Path], threads: int = 4) -> None:
    item = client.resolve_identifier("PROJ-1")
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for path in paths[index::threads]:
                data = path.read_bytes()
                result = upload_file(
                    client, item, path, name=path.name, mime_type="text/plain",
                    size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    external_id=f"follow:{path.name}", external_source="follow",
                    size_limit=2**20)
                assert isinstance(result, UploadResult)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for th in workers:
        th.start()
    for th in workers:
        th.join()
    assert errors == []


def api_answers(emu: Emulator) -> list[int]:
    return [r.status for r in emu.requests() if r.server == "api"]


@pytest.mark.parametrize(("server", "ceiling"), [
    ((40, 2.0), None),  # higher than the assumed 60 a minute: used, not waited a minute for
    ((40, 2.0), (1000, 60.0)),  # under a ceiling that allows more
    ((6, 2.0), None),  # fewer per window than assumed
    ((6, 2.0), (1000, 1.0)),  # far below the configured ceiling
])
def test_the_limiter_follows_the_servers_limit_with_no_429(
        emulator_factory: EmulatorFactory, tmp_path: Path,
        server: tuple[int, float], ceiling: tuple[int, float] | None) -> None:
    emu = emulator_factory(rate_limit=server)
    paths = make_files(tmp_path, 30)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # Pacing at the assumed 60 a minute would wait most of a minute: fail at once.
        assert seconds <= server[1] + 1.0, f"asked to wait {seconds:.1f} s"
        waits.append(seconds)
        time.sleep(seconds)

    limiter = RateLimiter(*(ceiling or (None, None)), sleep=sleep)
    with PlaneClient(emu.url, emu.api_key, emu.workspace, limiter=limiter) as client:
        upload_all(client, paths)
        assert client.limiter.learned == Limit(server[0], server[1], "server")
    answers = api_answers(emu)
    assert answers.count(429) == 0, f"{answers.count(429)} of {len(answers)} answered 429"
    assert len(answers) >= 2 * len(paths) > server[0]  # more than one window's worth
    assert len(emu.attachments(emu.work_items[0]["id"])) == len(paths)


def test_two_processes_pacing_one_key_apart_get_no_429(
        emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emu = emulator_factory(rate_limit=(20, 2.0))
    batches = [make_files(tmp_path, 25, prefix) for prefix in ("a", "b")]
    clients = [PlaneClient(emu.url, emu.api_key, emu.workspace, limiter=RateLimiter())
               for _ in batches]  # a limiter each: nothing shared, as two processes
    try:
        runs = [threading.Thread(target=upload_all, args=pair)
                for pair in zip(clients, batches, strict=True)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    finally:
        for c in clients:
            c.close()
    answers = api_answers(emu)
    assert answers.count(429) == 0, f"{answers.count(429)} of {len(answers)} answered 429"
    assert len(emu.attachments(emu.work_items[0]["id"])) == 50
