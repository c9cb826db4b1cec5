from __future__ import annotations

import io
import json

from plane_sync.service.report import TerminalProgress, human_size, print_reports, reports_json
from plane_sync.sync.outcome import PassReport


def test_progress_counts_files_and_bytes_of_the_total() -> None:
    out = io.StringIO()
    terminal = TerminalProgress(out)
    progress = terminal.progress()
    progress.on_plan(3, 3 * 1024 * 1024)
    progress.on_file_done(1024 * 1024)
    progress.on_file_done(1024 * 1024)
    terminal.finish()
    frames = out.getvalue().split("\r")
    assert frames[-1].startswith("2/3 files, 2.0 MiB of 3.0 MiB")
    assert out.getvalue().endswith("\n")


def test_nothing_to_upload_draws_nothing() -> None:
    out = io.StringIO()
    terminal = TerminalProgress(out)
    terminal.progress().on_plan(0, 0)
    terminal.finish()
    assert out.getvalue() == ""


def test_human_and_json_reports_name_every_outcome() -> None:
    report = PassReport("k", "PROJ-1", "/data/docs", uploaded=[("a.pdf", 2048)],
                        skipped=[("empty.txt", "empty file")],
                        failed=[("b.bin", "storage refused it")], in_sync=4)
    out = io.StringIO()
    print_reports([report], [], dry_run=True, out=out)
    text = out.getvalue()
    assert "would upload" in text and "a.pdf (2.0 KiB)" in text
    assert "FAILED       b.bin: storage refused it" in text
    data = json.loads(reports_json([report], [], dry_run=True, exit_code=1))
    assert data["exit_code"] == 1
    assert data["folders"][0]["failed"] == [{"path": "b.bin", "reason": "storage refused it"}]
    assert human_size(512) == "512 B"
