"""A polling pass vs. the cheapest possible walk of the same tree.

Builds N files (default 100,000, 100 per directory), then times, alternating A B / B A from run to
run so that neither side always runs on the cache state the other one left:

  baseline: a plain os.scandir walk (the stack-based walk the poller does, skipping symlinks) with
            an lstat of every regular file; each stat result is DISCARDED at once (nothing kept),
            which makes it the stricter bar: the poll pass also keeps its snapshot and frees the
            previous one.
  poll:     FolderPoller.poll_once(), the real pass: root probe, snapshot_tree, diff against the
            previous snapshot (nothing changed), and freeing that previous snapshot.

It prints the median of each and the ratio poll/baseline (<= 1.0: a pass costs no more than a
plain walk), then the memory a snapshot keeps per file (tracemalloc, measured apart, untimed).

    .venv/bin/python bench/bench_poll.py                 # 100,000 files, 5 runs
    .venv/bin/python bench/bench_poll.py -n 20000 -r 5   # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from plane_sync.local.poller import FolderPoller, snapshot_tree


class NullSink:
    def hint(self, key: str, rel_path: str | None, seen: object = None) -> None:
        raise AssertionError(f"nothing changed, yet {rel_path} was reported")

    def rescan(self, key: str, reason: str) -> None:
        raise AssertionError(reason)

    def folder_unavailable(self, key: str, reason: str, source: str = "watch") -> None:
        raise AssertionError(reason)

    def folder_available(self, key: str, source: str = "watch") -> None:
        raise AssertionError("the folder never went away")


def build_tree(root: Path, files: int, per_dir: int = 100) -> None:
    for i in range(files):
        d = root / f"d{i // per_dir // 100:03d}" / f"e{i // per_dir:05d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:07d}.txt").write_bytes(b"x" * (i % 512))


def plain_walk(root: str) -> int:
    count = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    entry.stat(follow_symlinks=False)  # discarded
                    count += 1
    return count


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def snapshot_bytes(root: Path) -> int:
    """Bytes a snapshot of ``root`` keeps alive (everything else freed before the reading)."""
    gc.collect()
    tracemalloc.start()
    try:
        snapshot = snapshot_tree(root)
        gc.collect()
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del snapshot
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--files", type=int, default=100_000)
    parser.add_argument("-r", "--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build_tree(root, args.files)
        print(f"built {args.files} files in {time.perf_counter() - t0:.1f} s")
        assert plain_walk(tmp) == args.files
        poller = FolderPoller("bench", root, NullSink(), interval=3600)  # thread never started
        assert poller.poll_once() == []  # the silent baseline: later passes have one to diff
        sides: dict[str, Callable[[], object]] = {
            "baseline": lambda: plain_walk(tmp),
            "poll": poller.poll_once,
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(args.runs):
            order = list(sides) if run % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(timed(sides[name]))
        base, poll = statistics.median(times["baseline"]), statistics.median(times["poll"])
        per_file = snapshot_bytes(root) / args.files
        print(f"{'files':>8} {'scandir+lstat':>14} {'poll pass':>10} {'ratio':>6}"
              f" {'snapshot B/file':>16}")
        print(f"{args.files:>8} {base:>13.3f}s {poll:>9.3f}s {poll / base:>6.2f}"
              f" {per_file:>16.0f}")


if __name__ == "__main__":
    main()
