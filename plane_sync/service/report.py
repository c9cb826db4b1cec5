"""How passes are shown: human lines, JSON, and a progress line on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from plane_sync.core.display import visible as v
from plane_sync.core.sizes import human_duration, human_size
from plane_sync.service.eta import WORTH_SAYING, Pace
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.targets import TargetProblem

__all__ = ["TerminalProgress", "human_size", "print_reports", "reports_json", "totals_line"]


def print_reports(reports: Sequence[PassReport], problems: Sequence[TargetProblem], *,
                  dry_run: bool, out: TextIO = sys.stdout, totals: bool = True,
                  pace: Pace | None = None) -> None:
    """Human lines; every name and reason through :func:`core.display.visible` (``v``): a
    file name must not clear the screen or forge a line of this report."""
    verb = "would upload" if dry_run else "uploaded"
    dverb = "would delete" if dry_run else "deleted"
    for r in reports:
        print(f"{v(r.label)}  {v(r.path)}", file=out)
        for path, size in r.uploaded:
            print(f"  {verb:<12} {v(path)} ({human_size(size)})", file=out)
        for name, reason in r.deleted:
            print(f"  {dverb:<12} {v(name)} ({v(reason)})", file=out)
        conflicts = dict(r.conflicts)
        for path, size in r.downloaded:
            if path in conflicts:
                print(f"  {'CONFLICT':<12} {v(conflicts[path])}: changed here and in Plane; "
                      f"kept, Plane's version written beside it as {v(path)}", file=out)
            else:
                word = "would download" if dry_run else "downloaded"
                print(f"  {word:<12} {v(path)} ({human_size(size)})", file=out)
        for path, reason in r.trashed:
            word = "would trash" if dry_run else "trashed"
            print(f"  {word:<12} {v(path)} ({v(reason)})", file=out)
        for name, reason in r.kept:
            print(f"  {'kept':<12} {v(name)} ({v(reason)})", file=out)
        for path, reason in r.skipped:
            print(f"  {'skipped':<12} {v(path)}: {v(reason)}", file=out)
        for path, reason in r.waiting:
            print(f"  {'waiting':<12} {v(path)}: {v(reason)}", file=out)
        for path, reason in r.failed:
            print(f"  {'FAILED':<12} {v(path)}: {v(reason)}", file=out)
        if r.unavailable:
            print(f"  UNAVAILABLE  {v(r.unavailable)} (nothing deleted)", file=out)
        if r.error:
            print(f"  ERROR        {v(r.error)}", file=out)
        if r.held:
            print(f"  HELD         {v(r.held)}", file=out)
        if r.paused:
            print(f"  UPLOADS ON HOLD  {v(r.paused)}", file=out)
        waiting = f", {len(r.waiting)} waiting" if r.waiting else ""
        print(f"  {r.in_sync} in sync, {len(r.uploaded)} {verb}, {len(r.deleted)} {dverb}, "
              f"{len(r.skipped)} skipped, {len(r.failed)} failed{waiting}", file=out)
    for p in problems:
        print(f"{v(p.label)}  {v(p.path)}\n  {p.kind.upper():<12} {v(p.reason)}", file=out)
    if totals:
        print(totals_line(reports, problems, dry_run=dry_run, pace=pace), file=out)


def totals_line(reports: Sequence[PassReport], problems: Sequence[TargetProblem], *,
                dry_run: bool, pace: Pace | None = None) -> str:
    """One closing line: the counts over every folder, and whether anything needs a look;
    for a dry run with ``pace``, how long the uploads would take."""
    verb = "would upload" if dry_run else "uploaded"
    dverb = "would delete" if dry_run else "deleted"
    failed = sum(len(r.failed) for r in reports)
    waiting = sum(len(r.waiting) for r in reports)
    broken = sum(1 for r in reports if r.unavailable or r.error) + sum(
        1 for p in problems if p.kind != "unmapped")
    uploads = sum(len(r.uploaded) for r in reports)
    would_take = ""
    if dry_run and pace is not None and uploads:
        seconds = pace.seconds(uploads, sum(size for r in reports for _, size in r.uploaded))
        if seconds >= WORTH_SAYING:
            would_take = f" (about {human_duration(seconds)} at {pace.rate_text()})"
    parts = [f"{len(reports)} folder(s)", f"{uploads} {verb}{would_take}",
             f"{sum(len(r.deleted) for r in reports)} {dverb}",
             f"{sum(len(r.skipped) for r in reports)} skipped", f"{failed} failed"]
    if waiting:
        parts.append(f"{waiting} waiting")
    if broken:
        parts.append(f"{broken} folder(s) not synced")
    downloaded = sum(len(r.downloaded) for r in reports)
    if downloaded:
        parts.append(f"{downloaded} {'would download' if dry_run else 'downloaded'}")
    conflicts = sum(len(r.conflicts) for r in reports)
    if conflicts:
        parts.append(f"{conflicts} conflict(s)")
    held = sum(1 for r in reports if r.held)
    if held:
        parts.append(f"deletions held back in {held} folder(s)")
    line = ("Dry run, nothing changed: " if dry_run else "Total: ") + ", ".join(parts)
    return line + (" (see above)" if failed or broken or held or waiting or conflicts else "")


def reports_json(reports: Sequence[PassReport], problems: Sequence[TargetProblem], *,
                 dry_run: bool, exit_code: int) -> str:
    def one(r: PassReport) -> dict[str, Any]:
        return {
            "work_item": r.label, "path": r.path, "key": r.target_key,
            "uploaded": [{"path": p, "bytes": b} for p, b in r.uploaded],
            "deleted": [{"name": n, "reason": why} for n, why in r.deleted],
            "downloaded": [{"path": p, "bytes": b} for p, b in r.downloaded],
            "conflicts": [{"path": p, "copy": c} for c, p in r.conflicts],
            "trashed": [{"path": p, "reason": why} for p, why in r.trashed],
            "kept": [{"name": n, "reason": why} for n, why in r.kept],
            "skipped": [{"path": p, "reason": why} for p, why in r.skipped],
            "waiting": [{"path": p, "reason": why} for p, why in r.waiting],
            "failed": [{"path": p, "reason": why} for p, why in r.failed],
            "unavailable": r.unavailable, "held": r.held, "paused": r.paused,
            "error": r.error, "in_sync": r.in_sync,
            "next_check": {p: round(t, 3) for p, t in sorted(r.next_check.items())},
        }
    return json.dumps({
        "dry_run": dry_run, "exit_code": exit_code, "folders": [one(r) for r in reports],
        "problems": [{"path": str(p.path), "work_item": p.label, "kind": p.kind,
                      "reason": p.reason} for p in problems],
    }, indent=2)


class TerminalProgress:
    """Files and bytes done of total, and how long the rest takes at ``pace()``, redrawn
    in place on stderr (only on a terminal)."""

    def __init__(self, stream: TextIO = sys.stderr,
                 pace: Callable[[], Pace] | None = None) -> None:
        self.stream = stream
        self.pace = pace
        self.files_total = self.bytes_total = self.files_done = self.bytes_done = 0

    def progress(self) -> Progress:
        return Progress(on_plan=self._plan, on_file_done=self._done)

    def _plan(self, files: int, total_bytes: int) -> None:
        self.files_total += files
        self.bytes_total += total_bytes
        self._draw()

    def _done(self, nbytes: int) -> None:
        self.files_done += 1
        self.bytes_done += nbytes
        self._draw()

    def _draw(self) -> None:
        if self.files_total:
            left = ""
            files_left = self.files_total - self.files_done
            if self.pace is not None and files_left > 0:
                pace = self.pace()
                seconds = pace.seconds(files_left, max(self.bytes_total - self.bytes_done, 0))
                left = f"; about {human_duration(seconds)} left at {pace.rate_text()}"
            self.stream.write(
                f"\r{self.files_done:,}/{self.files_total:,} files, "
                f"{human_size(self.bytes_done)} of {human_size(self.bytes_total)}{left}\x1b[K")
            self.stream.flush()

    def finish(self) -> None:
        if self.files_total:
            self.stream.write("\n")
            self.stream.flush()
