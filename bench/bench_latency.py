"""Latency from a file's close() to its attachment being listed, daemon against the emulator.

Usage: .venv/bin/python bench/bench_latency.py [--files N] [--settle S] [--poll-interval P]

Runs ``plane-sync run`` as a subprocess (as in production) on a temp folder, once with
``watch: inotify`` and once with ``watch: poll``, against the Plane emulator in this process
(no rate limit). For each of N files, written one at a time, it measures the time from the
writer's close() until the attachment shows up in the emulator's listing (polled every 2 ms).

Printed per mode: median and p90, the median bare upload time the daemon logged (``ms`` of
``upload.done``), and the median as a ratio against what the design allows for:

- inotify: settle (the file must be quiet that long) + the bare upload;
- poll:    settle + poll_interval / 2 (the mean wait for the next poll) + the bare upload.

A ratio near 1 means no time is lost beyond the settle wait, the poll schedule and the upload.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from plane_sync.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]


def _wait(predicate: Any, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def measure(emu: Emulator, item: dict[str, Any], base: Path, mode: str, *, files: int,
            settle: float, poll_interval: float) -> dict[str, float]:
    folder = base / f"folder-{mode}"
    folder.mkdir()
    config = {
        "plane": {"url": emu.url, "api_key": emu.api_key, "workspace": emu.workspace,
                  "rate_limit": "100000/minute"},
        "state_dir": str(base / f"state-{mode}"),
        "defaults": {"settle": settle, "watch": mode, "poll_interval": poll_interval,
                     "rescan_interval": "1h"},
        "folders": [{"path": str(folder), "work_item": item["identifier"]}],
    }
    config_path = base / f"config-{mode}.yaml"
    config_path.write_text(json.dumps(config))
    config_path.chmod(0o600)
    log_path = base / f"daemon-{mode}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "plane_sync", "run", "-c",
                                 str(config_path), "--log-format", "json"],
                                cwd=REPO, stderr=log, stdout=subprocess.DEVNULL)
    try:
        if not _wait(lambda: "daemon.initial_sync_done" in log_path.read_text(), 30, 0.05):
            raise SystemExit(f"daemon did not start:\n{log_path.read_text()}")
        latencies: list[float] = []
        for i in range(files):
            name = f"{mode}-{i:03d}.txt"
            # Write in two parts so the file is not complete at creation.
            with open(folder / name, "wb") as f:
                f.write(b"x" * 1000)
                f.flush()
                f.write(os.urandom(1000))
            closed = time.monotonic()

            def listed(n: str = name) -> bool:
                return any(r["attributes"]["name"] == n for r in emu.attachments(item["id"]))

            if not _wait(listed, 30):
                raise SystemExit(f"{name} was not attached within 30 s")
            latencies.append(time.monotonic() - closed)
            time.sleep(0.05 + (i % 7) * poll_interval / 7)  # spread over the poll phase
    finally:
        proc.terminate()
        proc.wait(30)
    uploads = [json.loads(line) for line in log_path.read_text().splitlines()
               if line.startswith("{") and '"upload.done"' in line]
    upload_ms = statistics.median(u["ms"] for u in uploads) / 1000
    median = statistics.median(latencies)
    allowed = settle + upload_ms + (poll_interval / 2 if mode == "poll" else 0.0)
    return {"median": median, "p90": statistics.quantiles(latencies, n=10)[-1],
            "upload": upload_ms, "allowed": allowed, "ratio": median / allowed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=15)
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()
    with Emulator(rate_limit=None) as emu, tempfile.TemporaryDirectory() as tmp:
        item = emu.work_items[0]
        print(f"{args.files} files per mode, settle {args.settle}s, "
              f"poll_interval {args.poll_interval}s")
        print(f"{'mode':8} {'median':>8} {'p90':>8} {'upload':>8} {'allowed':>8} {'ratio':>6}")
        for mode in ("inotify", "poll"):
            r = measure(emu, item, Path(tmp), mode, files=args.files, settle=args.settle,
                        poll_interval=args.poll_interval)
            print(f"{mode:8} {r['median']:7.3f}s {r['p90']:7.3f}s {r['upload']:7.3f}s "
                  f"{r['allowed']:7.3f}s {r['ratio']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
