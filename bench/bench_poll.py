"""A polling pass vs. the cheapest possible walk of the same tree.

Builds N files (default 100,000, spread over N/100 directories), then times, side by side and
alternating so that cache state is the same for both:

  baseline: os.scandir walk with an lstat of every file, results thrown away
  poll:     plane_sync.poller: snapshot_tree + diff against the previous snapshot

and prints the medians and the ratio poll/baseline (1.0 = no more than a plain walk).

    .venv/bin/python bench/bench_poll.py            # 100,000 files, 5 runs
    .venv/bin/python bench/bench_poll.py -n 5000 -r 3   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from plane_sync.poller import diff_snapshots, snapshot_tree


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
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count


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
        previous = snapshot_tree(root)  # the poller always has a previous snapshot
        assert plain_walk(str(root)) == len(previous) == args.files
        base_times, poll_times = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            plain_walk(str(root))
            base_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            current = snapshot_tree(root, previous)
            changed = diff_snapshots(previous, current)
            poll_times.append(time.perf_counter() - t)
            assert changed == []
            previous = current
        base, poll = statistics.median(base_times), statistics.median(poll_times)
        print(f"{'files':>8} {'scandir+stat':>13} {'poll pass':>10} {'ratio':>6}")
        print(f"{args.files:>8} {base:>12.3f}s {poll:>9.3f}s {poll / base:>6.2f}")


if __name__ == "__main__":
    main()
