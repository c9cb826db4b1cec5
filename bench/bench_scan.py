"""Scan cost with a warm hash cache, as a ratio against os.walk + lstat of the same tree.

Usage: .venv/bin/python bench/bench_scan.py [N_FILES] [--repeat R]

Builds N files (default 20,000; 100 per directory, three levels) in a temp dir,
scans once to fill the caches, then times, best of R runs each, side by side:

- baseline: os.walk + os.lstat of every file (what any scanner must at least do);
- scan_folder with an in-memory cache;
- scan_folder with the StateDB cache (loaded from SQLite for each scan, as the daemon does).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import MemoryHashCache, scan_folder
from plane_sync.sync.state import StateDB

EXCLUDES = ["*.tmp", "~$*", ".~lock.*#", ".*"]


def build_tree(root: Path, n_files: int) -> None:
    for i in range(n_files):
        directory = root / f"d{i // 10_000}" / f"e{(i // 100) % 100}"
        if i % 100 == 0:
            directory.mkdir(parents=True, exist_ok=True)
        (directory / f"file{i}.txt").write_bytes(b"%d\n" % i)


def baseline(root: Path) -> int:
    count = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))
            count += 1
    return count


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n_files", nargs="?", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = IgnoreRules(include=[], exclude=EXCLUDES)
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        root = Path(tmp) / "tree"
        build_tree(root, args.n_files)
        memory = MemoryHashCache()
        with StateDB(Path(tmp) / "state.db") as db:
            cold_start = time.perf_counter()
            scan_folder(root, rules, cache=memory)
            cold = time.perf_counter() - cold_start
            cold_db_start = time.perf_counter()
            with db.hash_cache("bench") as db_cache:
                scan_folder(root, rules, cache=db_cache)
            cold_db = time.perf_counter() - cold_db_start

            base, n_base = best_of(args.repeat, lambda: baseline(root))
            warm, n_warm = best_of(
                args.repeat, lambda: len(scan_folder(root, rules, cache=memory).files))
            warm_db, n_db = best_of(
                args.repeat,
                lambda: len(scan_folder(root, rules, cache=db.hash_cache("bench")).files))
        assert n_base == n_warm == n_db == args.n_files, (n_base, n_warm, n_db)
    print(f"files: {args.n_files}, best of {args.repeat}")
    print(f"os.walk + lstat (baseline)        {base:8.3f} s   1.00x")
    print(f"scan_folder, warm memory cache    {warm:8.3f} s   {warm / base:.2f}x")
    print(f"scan_folder, warm StateDB cache   {warm_db:8.3f} s   {warm_db / base:.2f}x")
    print(f"scan_folder, cold memory cache    {cold:8.3f} s   {cold / base:.2f}x")
    print(f"scan_folder, cold StateDB cache   {cold_db:8.3f} s   {cold_db / base:.2f}x")


if __name__ == "__main__":
    main()
