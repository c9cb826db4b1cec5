"""``plane-sync sync``: one settled pass over every folder, then exit.

Exit 0 only when every folder is in sync afterwards: nothing failed, waits (on a file still
being written, someone else's pending upload, a checksum, a limit only assumed, a paused
storage host) or is held back; 1 otherwise, each named with its reason and next try; 3 when
Plane cannot be reached or rejects the key (raised to the CLI). ``--allow-deletes [FOLDER]``
lifts the mass-delete guard for this run only (every folder, or the one named).

A real sync takes the state-directory lock (refused while the daemon runs). A dry run writes
nothing, not even the hash cache, so it takes no lock and runs beside the daemon: it reads
the state database (WAL lets it), or, before the first sync, an empty one of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from plane_sync.commands.selection import folder_selection
from plane_sync.config.types import Config
from plane_sync.core.display import visible
from plane_sync.remote.client import PlaneClient
from plane_sync.service.eta import WORTH_SAYING, Pace, UploadClock
from plane_sync.service.report import TerminalProgress, print_reports, reports_json
from plane_sync.service.runtime import (
    STATE_FILE,
    StateLock,
    open_client,
    open_state,
    size_limit_source,
)
from plane_sync.sync.bandwidth import Bandwidth
from plane_sync.sync.engine import Engine
from plane_sync.sync.oneshot import settled_pass
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.parallel import Transfers
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target, TargetProblem, WorkItemResolver, resolve_targets
from plane_sync.sync.transfers import TransferPool

EXIT_INTERRUPTED = 130


def run(config: Config, args: argparse.Namespace) -> int:
    dry_run: bool = args.dry_run
    allowed = folder_selection(config, getattr(args, "allow_deletes", None) or [],
                               option="--allow-deletes", empty_means_all=False)
    with state_for(config, dry_run=dry_run) as state, open_client(config) as client:
        targets, problems = resolve_targets(config.folders,
                                            WorkItemResolver(client, dry_run=dry_run))
        show_progress = sys.stderr.isatty() and not args.json
        clock = UploadClock()
        pace = _pace_of(config, client, clock)
        terminal = TerminalProgress(pace=pace) if show_progress else None
        inner = terminal.progress() if terminal else (
            Progress() if args.json or dry_run else plan_notice(pace))
        counter = UploadCounter(inner, clock)
        pool = TransferPool(config.plane.upload_workers, name="upload")
        transfers = Transfers(pool, Bandwidth(config.plane.max_upload_rate))
        engine = Engine(client, state, size_limit=size_limit_source(config, client),
                        external_source=config.plane.external_source, dry_run=dry_run,
                        progress=counter.progress(), allow_mass_delete=allowed, probe=True,
                        transfers=transfers)
        reports: list[PassReport] = []
        current: Target | None = None
        try:
            for target in targets:
                current = target
                counter.files_in_target = 0
                reports.append(settled_pass(engine, target))
        except KeyboardInterrupt:
            if terminal:
                terminal.finish()
                terminal = None
            _print_interrupted(reports, problems, current, counter.files_in_target,
                               dry_run=dry_run, as_json=args.json)
            return EXIT_INTERRUPTED
        finally:
            if terminal:
                terminal.finish()
            pool.close(timeout=0)  # after Ctrl-C: nothing new starts
    # Exit 0 is a promise: a hold (attachments of gone files stay because the folder looked
    # unmounted), a wait or a pause is not "in sync", and a cron job should hear about it.
    failed = any(not r.in_sync_now for r in reports) or any(
        p.kind in ("unresolved", "unavailable", "conflict") for p in problems)
    code = 1 if failed else 0
    if args.json:
        print(reports_json(reports, problems, dry_run=dry_run, exit_code=code))
    else:
        print_reports(reports, problems, dry_run=dry_run, pace=pace())
    return code


def _pace_of(config: Config, client: PlaneClient, clock: UploadClock) -> Callable[[], Pace]:
    """The pace the uploads keep: the limit as the limiter learned it, the bandwidth cap,
    and, once files are done, the pace so far."""
    def pace() -> Pace:
        return Pace(client.limiter.per_second, workers=config.plane.upload_workers,
                    bytes_per_second=config.plane.max_upload_rate,
                    files_per_second=clock.files_per_second())
    return pace


def plan_notice(pace: Callable[[], Pace]) -> Progress:
    """Without a terminal (cron, a log): one line on stderr for each folder's uploads that
    will take a while, so a long run says why it is long."""
    def plan(files: int, nbytes: int) -> None:
        current = pace()
        if files and current.seconds(files, nbytes) >= WORTH_SAYING:
            print(f"plane-sync: uploading {current.describe(files, nbytes)}", file=sys.stderr,
                  flush=True)
    return Progress(on_plan=plan)


@contextlib.contextmanager
def state_for(config: Config, *, dry_run: bool) -> Iterator[StateDB]:
    """The state database, locked for a real sync; read as it is for a dry run."""
    if not dry_run:
        with StateLock(config.state_dir):
            state = open_state(config)
            try:
                yield state
            finally:
                state.close()
        return
    with contextlib.ExitStack() as stack:
        db = config.state_dir / STATE_FILE
        if not db.exists():  # never synced: nothing to know, and nothing may be created
            db = Path(stack.enter_context(tempfile.TemporaryDirectory())) / STATE_FILE
        state = StateDB(db)
        stack.callback(state.close)
        yield state


class UploadCounter:
    """Counts the uploads of the folder being synced (for the Ctrl-C message) and times them
    (``clock``, for the estimate), passing every call on to ``inner`` (the terminal's
    progress line, the plan notice, or nothing)."""

    def __init__(self, inner: Progress, clock: UploadClock) -> None:
        self.inner = inner
        self.clock = clock
        self.files_in_target = 0
        self._lock = threading.Lock()  # upload workers call in at once

    def progress(self) -> Progress:
        return Progress(on_plan=self.inner.on_plan, on_file_start=self._start,
                        on_file_done=self._done)

    def _start(self, rel_path: str, size: int) -> None:
        with self._lock:
            self.clock.start()
            self.inner.on_file_start(rel_path, size)

    def _done(self, nbytes: int) -> None:
        with self._lock:
            self.files_in_target += 1
            self.clock.finish()
            self.inner.on_file_done(nbytes)


def _print_interrupted(reports: list[PassReport], problems: list[TargetProblem],
                       current: Target | None, files_done: int, *, dry_run: bool,
                       as_json: bool) -> None:
    """Ctrl-C: show the folders finished so far; the rest is for the next sync."""
    if as_json:
        print(reports_json(reports, problems, dry_run=dry_run, exit_code=EXIT_INTERRUPTED))
    else:
        print_reports(reports, problems, dry_run=dry_run, totals=False)
    where = ""
    if current is not None:
        verb = "would have been uploaded" if dry_run else "uploaded"
        where = (f" while syncing {visible(current.label)} ({visible(current.root)}), "
                 f"{files_done} file(s) of it {verb}")
    print(f"plane-sync: interrupted{where}; what is uploaded stays uploaded, "
          "the next sync does the rest", file=sys.stderr)
