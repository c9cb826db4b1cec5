"""The suite's rows about the daemon at team scale: its memory watching 100,000 files in 1,000
folders (one work item each), and the API requests it makes an hour while idle, with 100 and
with 1,000 work items mapped; plus rclone as a peer, when it is installed.

Every file is already attached in the emulator (seeded with the external ids plane-sync
gives them), so the start-up is one look-up and one listing per work item, and what follows
is idle: rescans of unchanged folders and the re-checks within their share.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, Sampler, external_ids, make_tree, rss_mib, write_config
from bench.emu_proc import REPO, EmuProc

SERVER_LIMIT = (6000, 60.0)  # 100 requests a second: start-up in seconds, not minutes
SHARE = 0.10
RESCAN = 30.0
IDLE = 60.0  # seconds of idle measured


def _events(path: Path, name: str) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def _wait_event(proc: subprocess.Popen[bytes], log: Path, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _events(log, name):
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {name} within {timeout:.0f}s")
        time.sleep(0.5)


def _bare_rss() -> float:
    """The interpreter with the daemon's modules imported, doing nothing."""
    code = ("import plane_sync.cli, plane_sync.service.daemon, plane_sync.local.watch;"
            "print(open('/proc/self/status').read())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def run_daemon(items: int, per_folder: int) -> dict[str, Any]:
    limit = f"{SERVER_LIMIT[0]}/{SERVER_LIMIT[1]:g}"
    with EmuProc(work_items=items, rate_limit=limit) as emu, \
            tempfile.TemporaryDirectory() as tmp:
        share = Path(tmp) / "share"
        seed = []
        for index in range(items):
            root = share / f"PROJ-{index + 1} work"
            paths = make_tree(root, per_folder)
            seed += [[index, name, external_id, "plane-sync", size]
                     for name, external_id, size in external_ids(root, paths)]
        seed_file = Path(tmp) / "seed.json"
        seed_file.write_text(json.dumps(seed))
        emu.ask("seed", file=str(seed_file))
        config = write_config(Path(tmp) / "c.json", emu,
                              [{"path": str(share), "work_items": "subfolders"}],
                              Path(tmp) / "state", recheck_share=SHARE)
        data = json.loads(config.read_text())
        data["defaults"]["rescan_interval"] = f"{RESCAN:g}s"
        config.write_text(json.dumps(data))
        log = Path(tmp) / "daemon.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "plane_sync", "run", "-c", str(config),
                 "--log-format", "json", "--log-level", "info"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            started = time.monotonic()
            _wait_event(proc, log, "daemon.initial_sync_done", timeout=900)
            startup = time.monotonic() - started
            time.sleep(5)  # the start-up's last answers
            since = time.time()
            time.sleep(IDLE)
            stats = emu.ask("stats", since=since)
            elapsed = time.time() - since
            rss, peak = rss_mib(proc.pid)
        finally:
            sampler.stop()
            proc.terminate()
            proc.wait(60)
        learned = _events(log, "ratelimit.learned")
        uploads = len(_events(log, "upload.done"))
    return {"items": items, "files": items * per_folder, "startup": startup,
            "requests": stats["count"], "lists": stats["lists"], "elapsed": elapsed,
            "throttled": stats["by_status"].get("429", 0), "rss": rss,
            "peak": max(peak, sampler.peak), "uploads": uploads,
            "learned": (learned[-1]["requests"], learned[-1]["window"]) if learned else None}


def daemon_rows(folders: int, per_folder: int) -> list[Row]:
    rows = []
    bare = _bare_rss()
    for items in (max(folders // 10, 1), folders):
        run = run_daemon(items, per_folder if items == folders else 10)
        rate = run["learned"][0] / run["learned"][1] if run["learned"] else 1.0
        allowed = SHARE * rate * 3600
        per_hour = run["requests"] * 3600 / run["elapsed"]
        before = 2 * items * 3600 / RESCAN  # every rescan: look up and list every item
        rows.append(Row(
            f"idle requests/h, {items:,} work items", f"{per_hour:,.0f}",
            f"{allowed:,.0f} share of {rate * 60:,.0f}/min", per_hour / allowed,
            "<= share", per_hour <= allowed * 1.02 and not run["throttled"],
            f"rescan {RESCAN:g}s; {before:,.0f}/h before; {run['uploads']} uploads"))
        if items == folders:
            rows.append(Row(
                f"daemon RSS, {run['files']:,} files / {items:,} folders",
                f"{run['rss']:.0f} MiB (peak {run['peak']:.0f})",
                f"{bare:.0f} MiB bare interpreter", run["peak"] / bare, "<= 150 MiB",
                run["peak"] <= 150, f"start-up {run['startup']:.0f}s"))
    return rows


def rclone_row(files: int) -> list[Row]:
    """rclone copying the same files to the same storage, against plane-sync's sync: only
    when rclone is installed (it is not a dependency)."""
    if shutil.which("rclone") is None:
        return [Row("rclone peer", "-", "-", None, "-", None, "rclone not installed")]
    return [Row("rclone peer", "-", "-", None, "-", None,
                "rclone found; the peer row needs an S3 endpoint it can write to")]
