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
from collections.abc import Iterator
from pathlib import Path

from plane_sync.commands.selection import folder_selection
from plane_sync.config.types import Config
from plane_sync.core.display import visible
from plane_sync.service.report import TerminalProgress, print_reports, reports_json
from plane_sync.service.runtime import (
    STATE_FILE,
    StateLock,
    open_client,
    open_state,
    size_limit_source,
)
from plane_sync.sync.engine import Engine
from plane_sync.sync.oneshot import settled_pass
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target, TargetProblem, WorkItemResolver, resolve_targets

EXIT_INTERRUPTED = 130


def run(config: Config, args: argparse.Namespace) -> int:
    dry_run: bool = args.dry_run
    allowed = folder_selection(config, getattr(args, "allow_deletes", None) or [],
                               option="--allow-deletes", empty_means_all=False)
    with state_for(config, dry_run=dry_run) as state, open_client(config) as client:
        targets, problems = resolve_targets(config.folders,
                                            WorkItemResolver(client, dry_run=dry_run))
        show_progress = sys.stderr.isatty() and not args.json
        terminal = TerminalProgress() if show_progress else None
        counter = UploadCounter(terminal.progress() if terminal else Progress())
        engine = Engine(client, state, size_limit=size_limit_source(config, client),
                        external_source=config.plane.external_source, dry_run=dry_run,
                        progress=counter.progress(), allow_mass_delete=allowed, probe=True)
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
    # Exit 0 is a promise: a hold (attachments of gone files stay because the folder looked
    # unmounted), a wait or a pause is not "in sync", and a cron job should hear about it.
    failed = any(not r.in_sync_now for r in reports) or any(
        p.kind in ("unresolved", "unavailable", "conflict") for p in problems)
    code = 1 if failed else 0
    if args.json:
        print(reports_json(reports, problems, dry_run=dry_run, exit_code=code))
    else:
        print_reports(reports, problems, dry_run=dry_run)
    return code


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
    """Counts the uploads of the folder being synced (for the Ctrl-C message), passing every
    call on to ``inner`` (the terminal's progress line, or nothing)."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.files_in_target = 0

    def progress(self) -> Progress:
        return Progress(on_plan=self.inner.on_plan, on_file_done=self._done)

    def _done(self, nbytes: int) -> None:
        self.files_in_target += 1
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
