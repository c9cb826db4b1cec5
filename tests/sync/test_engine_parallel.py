"""A pass's uploads on four workers: each file exactly once, the journal empty afterwards, a
stop or trouble leaving nothing half done that the next pass does not finish, and a large file
going on in the background while the pass goes on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plane_sync.emulator import Emulator
from plane_sync.errors import UploadError
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.sync.engine import Engine
from plane_sync.sync.outcome import STOPPED_BEFORE, PassReport, Progress
from plane_sync.sync.parallel import Transfers
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target
from plane_sync.sync.transfers import TransferPool
from tests.sync.conftest import folder_target

LIMIT = 5 * 1024 * 1024
FILES = 24


@pytest.fixture
def client(emulator: Emulator) -> Iterator[PlaneClient]:
    with PlaneClient(emulator.url, emulator.api_key, emulator.workspace,
                     rate_limit=(100_000, 1.0),
                     retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        yield c


@pytest.fixture
def pool() -> Iterator[TransferPool]:
    workers = TransferPool(4, large=100_000)
    yield workers
    workers.close(10)


def files(root: Path, count: int = FILES) -> list[str]:
    root.mkdir(exist_ok=True)
    names = [f"f{n:02d}.txt" for n in range(count)]
    for name in names:
        (root / name).write_text(f"content of {name}\n")
    return names


def attached(emu: Emulator) -> list[str]:
    rows = emu.attachments(emu.work_items[0]["id"], include_pending=True)
    return sorted(r["attributes"]["name"] for r in rows)


class Concurrency:
    """The most uploads in flight at once, from the engine's progress hooks."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def progress(self) -> Progress:
        def start(rel_path: str, size: int) -> None:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)

        def done(nbytes: int) -> None:
            with self.lock:
                self.now -= 1
        return Progress(on_file_start=start, on_file_done=done)


def test_four_workers_upload_each_file_once_and_leave_the_journal_empty(
        emulator: Emulator, client: PlaneClient, pool: TransferPool, tmp_path: Path) -> None:
    names = files(tmp_path / "docs")
    emulator.faults.set(delay=0.02)  # every answer takes a moment: workers overlap
    seen = Concurrency()
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync",
                        progress=seen.progress(), transfers=Transfers(pool))
        report = engine.sync_target(folder_target(tmp_path / "docs", emulator))
        assert sorted(p for p, _ in report.uploaded) == names and report.ok
        assert state.journal_entries() == [] and state.intents() == []
    assert attached(emulator) == names
    assert seen.most > 1


def test_a_stop_during_the_pass_leaves_the_rest_waiting_for_the_next(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    names = files(tmp_path / "docs")
    one = TransferPool(1)
    stop = threading.Event()
    done: list[int] = []

    def finished(nbytes: int) -> None:
        done.append(nbytes)
        if len(done) == 3:
            stop.set()  # paused, or SIGTERM, after three uploads

    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync",
                        progress=Progress(on_file_done=finished), stop=stop,
                        transfers=Transfers(one))
        target = folder_target(tmp_path / "docs", emulator)
        first = engine.sync_target(target)
        assert first.stopped and len(first.uploaded) == 3
        assert {p for p, why in first.waiting if why == STOPPED_BEFORE} == \
            set(names) - {p for p, _ in first.uploaded}
        stop.clear()
        second = engine.sync_target(target)
        assert len(second.uploaded) == FILES - 3 and not second.stopped
        assert state.journal_entries() == [] and state.intents() == []
    one.close(10)
    assert attached(emulator) == names


def test_trouble_stops_the_pass_and_the_next_pass_finishes_exactly_once(
        emulator: Emulator, client: PlaneClient, pool: TransferPool, tmp_path: Path) -> None:
    names = files(tmp_path / "docs")
    emulator.faults.set(storage_error_rate=1.0)  # the storage host keeps failing
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync",
                        raise_server_errors=True, transfers=Transfers(pool))
        target = folder_target(tmp_path / "docs", emulator)
        with pytest.raises(UploadError):
            engine.sync_target(target)
        assert attached(emulator) == []  # every pending create was abandoned
        emulator.faults.set()
        report = engine.sync_target(target)
        assert sorted(p for p, _ in report.uploaded) == names
        assert state.journal_entries() == [] and state.intents() == []
    assert attached(emulator) == names


def test_a_large_file_goes_on_in_the_background_while_the_pass_ends(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    names = files(root, 3)
    (root / "big.bin").write_bytes(b"b" * 200_000)
    finished: list[tuple[Target, PassReport, BaseException | None]] = []
    ended = threading.Event()

    def background(target: Target, report: PassReport, error: BaseException | None) -> None:
        finished.append((target, report, error))
        ended.set()

    detached = TransferPool(2, large=100_000)
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync",
                        transfers=Transfers(detached, detach_large=True,
                                            on_background_done=background))
        target = folder_target(root, emulator)
        report = engine.sync_target(target)
        assert sorted(p for p, _ in report.uploaded) == names
        assert report.background == [("big.bin", 200_000)] and not report.waiting
        assert ended.wait(30)
        [(done_target, done, error)] = finished
        assert done_target == target and error is None
        assert done.uploaded == [("big.bin", 200_000)]
        again = engine.sync_target(target)
        assert again.uploaded == [] and again.in_sync == 4 and again.ok
        assert state.journal_entries() == [] and state.intents() == []
    detached.close(10)
    assert attached(emulator) == sorted([*names, "big.bin"])


def test_a_worker_stuck_reading_a_share_gets_its_pass_abandoned_and_nothing_after_it(
        emulator: Emulator, client: PlaneClient, pool: TransferPool, tmp_path: Path) -> None:
    """The daemon's I/O watchdog (issue 13) with the upload workers (issue 10): the pass
    thread only waits for its uploads, so the worker's read must count as the pass's; once
    the pass is given up on, none of its uploads goes on when the share answers."""
    from plane_sync.local import iowatch
    from plane_sync.local.iowatch import FolderIO, FolderNotResponding
    from plane_sync.service.folder_jobs import FolderJobs

    files(tmp_path / "docs", 3)
    release, entered = threading.Event(), []
    with StateDB(tmp_path / "state.db") as state:
        engine = Engine(client, state, size_limit=LIMIT, external_source="plane-sync",
                        transfers=Transfers(pool))
        real = engine._upload

        def reading_a_hung_share(target: Target, action: object, report: PassReport) -> None:
            entered.append(1)
            with iowatch.fs_section("read"):  # as remote.upload reads a file of the share
                release.wait(30)
            real(target, action, report)  # type: ignore[arg-type]

        engine._upload = reading_a_hung_share  # type: ignore[method-assign]
        jobs = FolderJobs(threading.Event())
        target = folder_target(tmp_path / "docs", emulator)
        try:
            with pytest.raises(FolderNotResponding):
                jobs.run("f", FolderIO("f", timeout=0.5), lambda: engine.sync_target(target))
            assert jobs.busy("f")  # the folder gets no new pass meanwhile
        finally:
            release.set()  # the server answers
        for _ in range(200):
            if not jobs.busy("f"):
                break
            threading.Event().wait(0.05)
        assert not jobs.busy("f")
    assert entered == [1]  # one upload (the pool's first) began; none after the abandon
    assert attached(emulator) == []
