"""The running daemon's part of ``plane-sync status``: what it does now, the queue and its
ETA, the rate budget, pauses, and per folder its last complete pass, waiting files and held
deletions (the data: :meth:`plane_sync.service.live.LiveStatus.snapshot`)."""

from __future__ import annotations

import time
from typing import Any

from plane_sync.core.display import visible
from plane_sync.core.sizes import human_duration, human_size

WORKER_SILENT_AFTER = 120.0  # seconds without a sign of life before status points it out
WAITING_SHOWN = 10  # per work item; the JSON has them all


def _clock(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _ago(ts: float, now: float) -> str:
    return _duration(now - ts) + " ago"


def _duration(seconds: float) -> str:
    return human_duration(seconds)


def is_paused(paused: dict[str, Any], path: str) -> bool:
    return bool(paused["all"]) or path in paused["folders"]


def print_live(live: dict[str, Any]) -> None:
    now = time.time()
    print(f"daemon: running, pid {live['pid']}, up {_duration(now - live['started_at'])}: "
          f"{visible(live['activity'] or 'starting')}")
    uploads = live.get("uploads") or ([live["upload"]] if live["upload"] else [])
    for upload in uploads:
        share = f" ({100 * upload['done'] / upload['size']:.0f}%)" if upload["size"] else ""
        print(f"  uploading  {visible(upload['path'])} to {visible(upload['label'])}: "
              f"{human_size(upload['done'])} of {human_size(upload['size'])}{share}, "
              f"for {_duration(now - upload['started_at'])}")
    queue, rate = live["queue"], live["rate"]
    if queue["files"]:
        eta = ""
        if queue["eta_seconds"] is not None:
            per_minute = queue.get("requests_per_minute")
            at = f"{per_minute:,.0f} requests/min" if per_minute else "the rate limit"
            workers = queue.get("workers")
            at_once = f", {workers} uploads at once" if workers and workers > 1 else ""
            eta = (f": about {_duration(queue['eta_seconds'])} at {at} "
                   f"({queue['requests_per_file']} a file{at_once})")
        print(f"  queue      {queue['files']:,} file(s), {human_size(queue['bytes'])}{eta}")
    if rate["limit"]:
        whose = {"server": " (the server's limit, learned from its answers)",
                 "configured": " (rate_limit in the config)",
                 "assumed": " (Plane's default, until the server says)"}.get(
                     rate.get("source") or "", "")
        print(f"  rate       {rate['used']} of {rate['limit']} requests used in the last "
              f"{rate['window_seconds']:g}s{whose}")
    idle = live["worker_idle_seconds"]
    if idle is not None and idle > WORKER_SILENT_AFTER:
        print(f"  WORKER SILENT for {_duration(idle)}: no scan, upload or loop turn since "
              "(a hung share or Plane? the systemd watchdog restarts a hung daemon)")
    paused = live["paused"]
    if paused["all"]:
        print(f"  PAUSED     every folder since {_clock(paused['all_since'])} "
              "(plane-sync resume)")
    for folder in live["folders"]:
        _print_folder(folder, paused, now)


def _print_folder(folder: dict[str, Any], paused: dict[str, Any], now: float) -> None:
    marks = [f"watched by {folder['watch_mode']}" if folder["watch_mode"] else "not watched"]
    if is_paused(paused, folder["path"]):
        since = paused["all_since"] if paused["all"] else paused["folders"].get(folder["path"])
        marks.append(f"PAUSED since {_clock(since)}")
    if not folder["available"]:
        marks.append("NOT AVAILABLE (missing or unmounted)")
    print(f"\nfolder {visible(folder['path'])} ({', '.join(marks)})")
    if not folder["resolved"]:
        print("  not mapped to a work item yet")
    for t in folder["targets"]:
        last = t["last_complete_at"]
        done = (f"last complete pass {_clock(last)} ({_ago(last, now)})" if last
                else "no complete pass yet")
        nxt = f"; next pass {_clock(t['next_pass_at'])}" if t["next_pass_at"] else ""
        print(f"  {visible(t['label'])}: {done}{nxt}")
        if t["problem"]:
            print(f"    PROBLEM  {visible(t['problem'])}")
        nxt = f" (next check {_clock(t['next_pass_at'])})" if t["next_pass_at"] else ""
        for w in t["waiting"][:WAITING_SHOWN]:
            print(f"    waiting  {visible(w['path'])}: {visible(w['reason'])}{nxt}")
        if len(t["waiting"]) > WAITING_SHOWN:
            print(f"    waiting  ... and {len(t['waiting']) - WAITING_SHOWN} more "
                  "(plane-sync status --json lists them all)")
        if t["held"]:
            print(f"    HELD     {visible(t['held'])}")
    for p in folder["problems"]:
        print(f"  {p['kind'].upper():<10} {visible(p['work_item'])}  {visible(p['path'])}: "
              f"{visible(p['reason'])}")
