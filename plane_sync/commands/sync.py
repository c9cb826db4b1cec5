"""``plane-sync sync``: one pass over every folder, then exit.

Exit 0 when every folder is in sync afterwards, 1 when some files failed or a folder could
not be synced, 3 when Plane cannot be reached or rejects the key (raised to the CLI)."""

from __future__ import annotations

import argparse
import sys

from plane_sync.config_types import Config
from plane_sync.engine import Engine, PassReport
from plane_sync.report import TerminalProgress, print_reports, reports_json
from plane_sync.runtime import StateLock, open_client, open_state, size_limit_for
from plane_sync.targets import WorkItemResolver, resolve_targets


def run(config: Config, args: argparse.Namespace) -> int:
    dry_run: bool = args.dry_run
    with StateLock(config.state_dir), open_client(config) as client:
        state = open_state(config)
        try:
            targets, problems = resolve_targets(config.folders,
                                                WorkItemResolver(client, dry_run=dry_run))
            show_progress = sys.stderr.isatty() and not args.json
            terminal = TerminalProgress() if show_progress else None
            engine = Engine(client, state, size_limit=size_limit_for(config, client),
                            external_source=config.plane.external_source, dry_run=dry_run,
                            progress=terminal.progress() if terminal else None)
            reports: list[PassReport] = []
            try:
                for target in targets:
                    reports.append(engine.sync_target(target))
            finally:
                if terminal:
                    terminal.finish()
        finally:
            state.close()
    failed = any(not r.ok for r in reports) or any(
        p.kind in ("unresolved", "unavailable", "conflict") for p in problems)
    code = 1 if failed else 0
    if args.json:
        print(reports_json(reports, problems, dry_run=dry_run, exit_code=code))
    else:
        print_reports(reports, problems, dry_run=dry_run)
    return code
