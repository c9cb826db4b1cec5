"""``plane-sync pause|resume|rescan [FOLDER...]`` and ``sync --now``: steer the running
daemon over its control socket. No API key, no network, no folder is touched.

Without a daemon, ``pause`` and ``resume`` edit the pause file in the state directory (the
daemon honours it when it starts); ``rescan`` has nobody to ask and says so (exit 1), and
``sync --now`` runs an ordinary sync instead.

Exit status: 0 done; 1 the daemon did not answer or refused (the reason is printed), or,
for ``rescan``, no daemon runs; 2 usage or configuration error (a FOLDER that is not
configured, an unusable state directory).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from plane_sync.commands.status import usable_state_dir
from plane_sync.config.locate import StateLocation, locate_state
from plane_sync.config.reader import expand_path
from plane_sync.core.display import visible
from plane_sync.service.control_client import (
    ControlRefused,
    DaemonNotAnswering,
    DaemonNotRunning,
    ask,
)
from plane_sync.service.pauses import Pauses
from plane_sync.service.runtime import ensure_state_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UnknownFolder(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    location = locate_state(args.config)
    state_dir = usable_state_dir(location)
    op: str = args.command
    try:
        folders = chosen_folders(getattr(args, "folders", None) or [], location)
    except UnknownFolder as exc:
        print(f"plane-sync: {visible(exc)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        answer = ask(state_dir, op, folders)
    except DaemonNotRunning:
        return _without_daemon(op, state_dir, folders, location)
    except (DaemonNotAnswering, ControlRefused) as exc:
        print(f"plane-sync: {visible(exc)}", file=sys.stderr)
        return EXIT_FAILED
    changed: list[str] = answer["changed"]
    what = {"pause": "paused", "resume": "resumed", "rescan": "asked to rescan"}[op]
    if changed:
        named = "every folder" if changed == ["*"] else ", ".join(changed)
        print(f"daemon {what}: {visible(named)}")
        if op == "pause":
            print("An upload in flight finishes; no new one starts until plane-sync resume.")
    else:
        print(f"nothing to do: {_already(op)}")
    return EXIT_OK


def ask_rescan(args: argparse.Namespace) -> int | None:
    """``sync --now``: the daemon's answer, or None when no daemon runs (sync then)."""
    args.command, args.folders = "rescan", []
    state_dir = usable_state_dir(locate_state(args.config))
    try:
        ask(state_dir, "rescan")
    except DaemonNotRunning:
        return None
    except (DaemonNotAnswering, ControlRefused) as exc:
        print(f"plane-sync: {visible(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print("The daemon rescans every folder now (it already syncs them; watch it with "
          "plane-sync status).")
    return EXIT_OK


def chosen_folders(names: list[str], location: StateLocation) -> list[str] | None:
    """The configured folder paths the arguments name (None: every folder)."""
    if not names:
        return None
    configured = {str(p) for p in location.folders}
    chosen = []
    for name in names:
        path = str(expand_path(name, os.environ, Path.cwd()))
        if path not in configured:
            raise UnknownFolder(f"{name} is not a configured folder (configured in "
                                f"{location.source}: {', '.join(sorted(configured))})")
        chosen.append(path)
    return chosen


def _without_daemon(op: str, state_dir: Path, folders: list[str] | None,
                    location: StateLocation) -> int:
    if op == "rescan":
        print(f"plane-sync: no daemon is running (state directory {state_dir}); "
              "plane-sync sync runs one pass now", file=sys.stderr)
        return EXIT_FAILED
    pauses = Pauses(ensure_state_dir(state_dir))
    if op == "pause":
        changed = pauses.pause(folders)
    else:
        changed = pauses.resume(folders, [str(p) for p in location.folders])
    named = "every folder" if changed == ["*"] else ", ".join(changed)
    verb = "paused" if op == "pause" else "resumed"
    print(f"No daemon is running: {visible(named) or 'nothing'} {verb} in {pauses.path}; "
          "the daemon "
          "honours it when it starts." if changed else f"nothing to do: {_already(op)}")
    return EXIT_OK


def _already(op: str) -> str:
    return {"pause": "already paused", "resume": "not paused",
            "rescan": "no folder to rescan"}[op]
