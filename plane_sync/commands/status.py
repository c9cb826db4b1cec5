"""``plane-sync status``: the running daemon's live state over its control socket, plus what
the state database says (failures with their next try, skips, each folder's last sync).

Needs no API key and no network, and never touches a synced folder: only ``state_dir`` is
read from the config (:mod:`plane_sync.config.locate`). Without a daemon, or with one that
does not answer within the socket timeout, the database alone is shown, and said so.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from plane_sync.commands.status_live import print_live
from plane_sync.config.locate import StateLocation, locate_state
from plane_sync.core.display import visible
from plane_sync.errors import ConfigError
from plane_sync.service.control_client import (
    ControlRefused,
    DaemonNotAnswering,
    DaemonNotRunning,
    ask,
)
from plane_sync.service.notes import read_notes
from plane_sync.service.pauses import Pauses
from plane_sync.service.runtime import STATE_FILE
from plane_sync.service.state_access import state_dir_problem
from plane_sync.sync.state import DaemonStatus, StateDB

STALE_AFTER = 300.0  # a daemon that has not written its status for this long is stuck


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_summary(status: DaemonStatus | None) -> dict[str, Any]:
    if status is None or not _alive(status.pid):
        return {"running": False}
    age = time.time() - status.updated_at
    return {"running": True, "pid": status.pid, "activity": status.activity,
            "updated_seconds_ago": round(age, 1), "stale": age > STALE_AFTER}


def usable_state_dir(location: StateLocation) -> Path:
    problem = state_dir_problem(location.state_dir)
    if problem is not None:
        raise ConfigError([f"state_dir: cannot use {location.state_dir}: {problem}"],
                          source=str(location.source))
    return location.state_dir


def collect(state_dir: Path) -> dict[str, Any]:
    db_path = state_dir / STATE_FILE
    if not db_path.exists():
        return {"daemon": {"running": False}, "folders": [], "note": "never synced"}
    state = StateDB(db_path)
    try:
        failures = state.failures()
        skips = state.skips()
        waiting = state.waiting()
        folders = []
        for s in state.folder_statuses():
            folders.append({
                "key": s.folder_key, "path": s.path, "work_item": s.work_item_label,
                "state": s.state, "reason": s.reason, "last_sync_at": s.last_sync_at,
                "in_sync": s.files_in_sync, "pending": s.pending,
                "failed": [{"path": f.rel_path, "reason": f.reason, "attempts": f.attempts,
                            "next_retry_at": f.next_retry_at}
                           for f in failures if f.folder_key == s.folder_key],
                "skipped": [{"path": k.rel_path, "reason": k.reason}
                            for k in skips if k.folder_key == s.folder_key],
                "waiting": [{"path": path, "reason": reason, "next_check": next_check}
                            for key, path, reason, next_check in waiting
                            if key == s.folder_key],
            })
        daemon = daemon_summary(state.daemon_status())
        if daemon["running"]:  # notes describe the running daemon (service.notes)
            daemon["notes"] = read_notes(state_dir)
        return {"daemon": daemon, "folders": folders}
    finally:
        state.close()


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def run(args: argparse.Namespace) -> int:
    state_dir = usable_state_dir(locate_state(args.config))
    live: dict[str, Any] | None = None
    silence = None
    try:
        live = ask(state_dir, "status")
    except DaemonNotRunning:
        pass
    except (DaemonNotAnswering, ControlRefused) as exc:
        silence = exc.message
    info = collect(state_dir)
    if live is not None:
        info["daemon"] = {"running": True, "answering": True, "pid": live["pid"],
                          "activity": live["activity"], "notes": read_notes(state_dir)}
        info["live"] = live
    elif silence is not None:
        info["daemon"]["answering"] = False
        info["daemon"]["not_answering"] = silence
    info["paused"] = vars(Pauses(state_dir).snapshot()) if live is None else live["paused"]
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    # Exit 0 even when files failed: status reports, sync and check signal.
    # Names and reasons come from file names and servers: shown escaped (core.display).
    _print_daemon(info, state_dir)
    if not info["folders"] and live is None:
        print("no folder has been synced yet: run plane-sync sync, or start the daemon "
              "(plane-sync run)")
    for f in info["folders"]:
        print(f"\n{visible(f['work_item'])}  {visible(f['path'])}")
        reason = f" ({visible(f['reason'])})" if f["reason"] else ""
        state = f["state"].replace("_", " ")  # "not responding"
        print(f"  state: {visible(state)}{reason}")
        print(f"  last sync: {_when(f['last_sync_at'])}; {f['in_sync']} in sync, "
              f"{f['pending']} pending, {len(f['failed'])} failed, "
              f"{len(f['skipped'])} skipped")
        for x in f["failed"]:
            print(f"  failed   {visible(x['path'])}: {visible(x['reason'])} "
                  f"(attempt {x['attempts']}, next try {_when(x['next_retry_at'])})")
        for x in f["waiting"]:
            nxt = f" (next check {_when(x['next_check'])})" if x["next_check"] else ""
            print(f"  waiting  {visible(x['path'])}: {visible(x['reason'])}{nxt}")
        for x in f["skipped"]:
            print(f"  skipped  {visible(x['path'])}: {visible(x['reason'])}")
    return 0


def _print_daemon(info: dict[str, Any], state_dir: Path) -> None:
    d = info["daemon"]
    if "live" in info:
        print_live(info["live"])
    elif d.get("answering") is False:
        print(f"daemon: NOT ANSWERING ({visible(d['not_answering'])}); showing the state "
              "database")
        if d["running"]:
            print(f"  pid {d['pid']} last wrote its status {d['updated_seconds_ago']:.0f}s "
                  f"ago: {visible(d['activity'])}")
    elif d["running"]:
        stale = " (no progress report for a while)" if d["stale"] else ""
        print(f"daemon: running, pid {d['pid']}: {visible(d['activity'])}{stale} (no control "
              "socket: an older plane-sync?)")
    else:
        print(f"daemon: not running (state directory {visible(state_dir)})")
    for note in d.get("notes", []):
        print(f"  note: {visible(note['message'])} (since {_when(note.get('since'))})")
    paused = info["paused"]
    if "live" not in info and (paused["all"] or paused["folders"]):
        which = "every folder" if paused["all"] else ", ".join(paused["folders"])
        print(f"paused: {which} (plane-sync resume)")
