"""How long the uploads still to do take: at the learned limit, the bandwidth cap and the
pace kept so far; said by sync (progress line, plan notice, dry run) and status."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

from plane_sync.commands.status_live import print_live
from plane_sync.commands.sync import plan_notice
from plane_sync.service.eta import Pace, UploadClock
from plane_sync.service.live import LiveStatus
from plane_sync.service.report import TerminalProgress, totals_line
from plane_sync.sync.outcome import PassReport, Progress


def test_a_thousand_files_at_plane_default_take_about_33_minutes() -> None:
    pace = Pace(1.0, workers=4)  # 60 requests a minute
    assert pace.seconds(1000, 12 * 2**20) == 2000.0
    assert pace.describe(1000, 12 * 2**20) == (
        "1,000 files (12.0 MiB): about 33 min at 60 requests/min, 4 uploads at once")


def test_the_slowest_bound_wins() -> None:
    assert Pace(10.0, bytes_per_second=1000.0).seconds(10, 1_000_000) == 1000.0  # the cap
    assert Pace(10.0, files_per_second=0.5).seconds(10, 10) == 20.0  # a slow link so far
    assert Pace(1000.0).seconds(10, 10) == pytest.approx(0.02)  # the limit alone


def test_the_pace_so_far_needs_two_files() -> None:
    now = [0.0]
    clock = UploadClock(lambda: now[0])
    clock.start()
    now[0] = 5.0
    clock.finish()
    assert clock.files_per_second() is None
    now[0] = 10.0
    clock.start()  # a later start does not move the first
    clock.finish()
    assert clock.files_per_second() == pytest.approx(0.2)


def test_the_progress_line_says_how_long_the_rest_takes() -> None:
    out = io.StringIO()
    terminal = TerminalProgress(out, pace=lambda: Pace(1.0))
    progress = terminal.progress()
    progress.on_plan(1000, 1000 * 1024)
    progress.on_file_done(1024)
    terminal.finish()
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("1/1,000 files, 1.0 KiB of 1000.0 KiB; about 33 min left at "
                           "60 requests/min")


def test_a_dry_run_says_how_long_the_uploads_would_take() -> None:
    report = PassReport("k", "PROJ-1", "/d", uploaded=[(f"f{n}", 10) for n in range(90)])
    line = totals_line([report], [], dry_run=True, pace=Pace(1.0))
    assert "90 would upload (about 3 min at 60 requests/min)" in line
    quick = totals_line([report], [], dry_run=True, pace=Pace(100.0))
    assert "90 would upload," in quick  # under a minute: not worth saying


def test_status_gives_the_queue_an_eta_at_the_learned_limit_and_workers() -> None:
    live = LiveStatus(rate_usage=lambda: (12, 600, 600.0))
    live.pace = lambda: Pace(1.0, workers=4)
    live.rate_source = lambda: "server"
    planned = live.progress(Progress())
    planned.on_plan(1000, 5 * 2**20)
    snap: dict[str, Any] = live.snapshot()
    assert snap["queue"]["eta_seconds"] == 2000.0
    assert (snap["queue"]["requests_per_minute"], snap["queue"]["workers"]) == (60.0, 4)
    snap.update(pid=1, paused={"all": False, "all_since": None, "folders": {}})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_live(snap)
    text = out.getvalue()
    assert ("queue      1,000 file(s), 5.0 MiB: about 33 min at 60 requests/min "
            "(2 a file, 4 uploads at once)") in text
    assert "12 of 600 requests used in the last 600s (the server's limit, learned" in text


def test_without_a_terminal_sync_says_once_per_folder_when_uploads_take_a_while(
        capsys: pytest.CaptureFixture[str]) -> None:
    notice = plan_notice(lambda: Pace(1.0))
    notice.on_plan(10, 100)  # 20 s: not worth a line
    notice.on_plan(1000, 2**20)
    assert capsys.readouterr().err == (
        "plane-sync: uploading 1,000 files (1.0 MiB): about 33 min at 60 requests/min, "
        "1 upload at once\n")
