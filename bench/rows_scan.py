"""The suite's no-op rescan row: the daemon's pass over a folder of 100,000 files that did not
change since its last clean pass (scan with the hash cache warm, compare, record), against
the plain walk any scanner must do: os.scandir down the tree and an lstat of every file."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Row, external_ids, make_tree, walk_lstat
from bench.emu_proc import EmuProc


def best_of(rounds: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def noop_rescan(files: int, rounds: int = 5) -> Row:
    from plane_sync.config.types import FolderConfig, SingleTarget
    from plane_sync.core.models import WorkItem
    from plane_sync.local.ignore import IgnoreRules
    from plane_sync.local.scan import MemoryHashCache, scan_folder
    from plane_sync.remote.client import PlaneClient
    from plane_sync.sync.engine import Engine
    from plane_sync.sync.state import StateDB
    from plane_sync.sync.targets import Target

    with EmuProc(rate_limit="off") as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "share"
        paths = make_tree(root, files, per_dir=100)
        item = emu.work_items[0]
        seed = Path(tmp) / "seed.json"
        seed.write_text(json.dumps([[0, name, external_id, "plane-sync", size]
                                    for name, external_id, size in external_ids(root, paths)]))
        emu.ask("seed", file=str(seed))
        folder = FolderConfig(path=root, target=SingleTarget(identifier=item["identifier"]),
                              include=(), exclude=(), recurse=True, on_change="replace",
                              on_delete="keep", watch="inotify", poll_interval=30.0,
                              settle=0.0, rescan_interval=600.0, key="share")
        target = Target(folder, "share", root,
                        WorkItem(id=item["id"], project_id=item["project_id"]))
        with PlaneClient(emu.url, emu.api_key, emu.workspace,
                         rate_limit=(1_000_000, 1.0)) as client, \
                StateDB(Path(tmp) / "state.db") as state:
            engine = Engine(client, state, size_limit=5 * 2**20, external_source="plane-sync")
            first = engine.sync_target(target)  # lists, hashes: everything is there
            assert first.in_sync == files and not first.uploaded, (first.in_sync, first.failed)

            def rescan() -> None:
                report = engine.sync_target(target, listing=False)
                assert not report.listed and report.in_sync == files

            walk = best_of(rounds, lambda: walk_lstat(root))
            daemon = best_of(rounds, rescan)
            walk = min(walk, best_of(rounds, lambda: walk_lstat(root)))  # either side of it
            memory = MemoryHashCache()
            rules = IgnoreRules(folder.include, folder.exclude)
            scan_folder(root, rules, cache=memory)
            bare = best_of(rounds, lambda: scan_folder(root, rules, cache=memory))
    ratio = daemon / walk
    return Row(f"no-op rescan, {files:,} files", f"{daemon * 1000:.0f} ms",
               f"{walk * 1000:.0f} ms scandir + lstat", ratio, "<= 1.3x", ratio <= 1.3,
               f"scan alone {bare / walk:.2f}x")
