"""``plane-sync status``: what the state database says, readable while the daemon runs."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from plane_sync.config.types import Config
from plane_sync.service.runtime import STATE_FILE
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


def collect(config: Config) -> dict[str, Any]:
    db_path = config.state_dir / STATE_FILE
    if not db_path.exists():
        return {"daemon": {"running": False}, "folders": [], "note": "never synced"}
    state = StateDB(db_path)
    try:
        failures = state.failures()
        skips = state.skips()
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
            })
        return {"daemon": daemon_summary(state.daemon_status()), "folders": folders}
    finally:
        state.close()


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def run(config: Config, args: argparse.Namespace) -> int:
    info = collect(config)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    # Exit 0 even when files failed: status reports, sync and check signal.
    d = info["daemon"]
    if d["running"]:
        stale = " (no progress report for a while)" if d["stale"] else ""
        print(f"daemon: running, pid {d['pid']}: {d['activity']}{stale}")
    else:
        print("daemon: not running")
    if not info["folders"]:
        print("no folder has been synced yet: run plane-sync sync, or start the daemon "
              "(plane-sync run)")
    for f in info["folders"]:
        print(f"\n{f['work_item']}  {f['path']}")
        state = f["state"].replace("_", " ")  # "not responding"
        print(f"  state: {state}" + (f" ({f['reason']})" if f["reason"] else ""))
        print(f"  last sync: {_when(f['last_sync_at'])}; {f['in_sync']} in sync, "
              f"{f['pending']} pending, {len(f['failed'])} failed, "
              f"{len(f['skipped'])} skipped")
        for x in f["failed"]:
            print(f"  failed   {x['path']}: {x['reason']} (attempt {x['attempts']}, "
                  f"next try {_when(x['next_retry_at'])})")
        for x in f["skipped"]:
            print(f"  skipped  {x['path']}: {x['reason']}")
    return 0
