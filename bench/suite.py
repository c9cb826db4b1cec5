"""The benchmark suite: one command, one table; each figure a ratio against a baseline run
side by side in the same run.

    .venv/bin/python -m bench.suite [--quick] [--only NAME ...]

Rows (the goals are issue 10's):

- calls per file: API requests per uploaded file (goal 2.0: create + complete), against the
  plain three-step loop;
- files/min at a limit: ``sync`` against a server limit it was not told, against the ceiling
  that limit allows (goal >= 0.98, no 429);
- throughput, limit off: ``sync`` against a plain 4-thread three-step loop (goal >= 0.9x);
- no-op sync of 1,000 files, against one listing plus a walk with lstat;
- no-op rescan of 100,000 files (the daemon's pass over an unchanged folder), against a
  plain os.scandir walk with lstat (goal <= 1.3x);
- daemon RSS watching 100,000 files in 1,000 folders (goal <= 150 MiB), against the bare
  interpreter with the daemon's modules imported;
- idle API requests an hour with 100 and 1,000 work items mapped, against the re-check
  share of the learned limit (goal: within it, whatever the count);
- rclone copying the same files to the same storage, as a peer row, when rclone is
  installed.

The emulator runs in a process of its own (bench/emu_proc.py). The machine is shared: each
timed pair runs in turn, best of a few rounds. ``--quick`` shrinks every size by 10.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import rows_api, rows_daemon, rows_scan
from bench.common import Row


def rows(scale: int) -> dict[str, Callable[[], list[Row]]]:
    return {
        "calls": lambda: [rows_api.calls_per_file(200 // scale)],
        "limit": lambda: [rows_api.files_per_minute_at_a_limit(450 // scale)],
        "throughput": lambda: [rows_api.throughput_limit_off(1000 // scale)],
        "noop-sync": lambda: [rows_api.noop_sync(1000 // scale)],
        "rescan": lambda: [rows_scan.noop_rescan(100_000 // scale)],
        "daemon": lambda: rows_daemon.daemon_rows(folders=1000 // scale, per_folder=100),
        "rclone": lambda: rows_daemon.rclone_row(1000 // scale),
    }


def print_table(table: list[Row]) -> None:
    headers = ("row", "figure", "baseline", "ratio", "goal", "met", "note")
    lines = [(r.name, r.figure, r.baseline, "-" if r.ratio is None else f"{r.ratio:.2f}",
              r.goal, {True: "yes", False: "NO", None: "-"}[r.met], r.note) for r in table]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *lines, strict=True)]
    for line in (headers, *lines):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every size divided by 10")
    parser.add_argument("--only", nargs="*", help="rows to run (default: all)")
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    available = rows(10 if args.quick else 1)
    chosen = args.only or list(available)
    table: list[Row] = []
    started = time.monotonic()
    for name in chosen:
        begun = time.monotonic()
        found = available[name]()
        table += found
        print(f"[{name}: {time.monotonic() - begun:.0f}s]", file=sys.stderr, flush=True)
    print_table(table)
    print(f"\n{len(table)} rows in {time.monotonic() - started:.0f}s; "
          f"rclone {'found' if shutil.which('rclone') else 'not installed'}")
    return 0 if all(r.met is not False for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
