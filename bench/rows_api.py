"""The suite's rows about Plane's API: calls per file, files a minute at a limit, throughput
with the limit off, and a no-op sync; each against its baseline run in the same process."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Row, make_tree, plain_upload_loop, run_sync, walk_lstat, write_config
from bench.emu_proc import EmuProc

UNLIMITED = "1000000/1s"  # a ceiling that never binds: the emulator's limit is off


def calls_per_file(files: int) -> Row:
    """API requests per uploaded file, the fixed requests of a run (look the work item up,
    list it) taken off by a no-op sync right after; the plain loop needs 2."""
    with EmuProc(rate_limit="off") as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "docs"
        make_tree(root, files)
        item = emu.work_items[0]
        config = write_config(Path(tmp) / "c.json", emu, [
            {"path": str(root), "work_item": item["identifier"]}], Path(tmp) / "state",
            rate_limit=UNLIMITED)
        start = time.time()
        code, _ = run_sync(config)
        assert code == 0, code
        middle = time.time()
        run_sync(config)
        end = time.time()
        full = emu.ask("stats", since=start)["count"] - emu.ask("stats", since=middle)["count"]
        fixed = emu.ask("stats", since=middle)["count"]
        assert emu.ask("stats", since=end)["count"] == 0
        plain_paths = make_tree(Path(tmp) / "plain", files)
        before = time.time()
        plain_upload_loop(emu, emu.work_items[1], plain_paths)
        plain = emu.ask("stats", since=before)["count"] / files
    per_file = (full - fixed) / files
    return Row("calls per file", f"{per_file:.2f} (+{fixed} a run)", f"{plain:.2f} plain loop",
               per_file / plain, "2.0", per_file <= 2.0)


def files_per_minute_at_a_limit(files: int, limit: int = 60, window: float = 2.0) -> Row:
    """``sync`` against a server limit it was not told (no rate_limit in the config):
    files a minute against the ceiling the limit allows (2 requests a file). The ratio is
    the least time a sliding window allows for the requests made, over the time taken."""
    with EmuProc(rate_limit=f"{limit}/{window:g}") as emu, \
            tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "docs"
        make_tree(root, files)
        config = write_config(Path(tmp) / "c.json", emu, [
            {"path": str(root), "work_item": emu.work_items[0]["identifier"]}],
            Path(tmp) / "state")
        start = time.time()
        code, _ = run_sync(config)
        assert code == 0, code
        stats = emu.ask("stats", since=start)
    requests, elapsed = stats["count"], stats["last"] - stats["first"]
    least = ((requests - 1) // limit) * window
    ceiling = limit / window / 2 * 60
    ratio = least / elapsed
    throttled = stats["by_status"].get("429", 0)
    return Row(f"files/min at {limit}/{window:g}s", f"{ratio * ceiling:.0f} files/min",
               f"{ceiling:.0f} ceiling", ratio, ">= 0.98 x ceiling, no 429",
               ratio >= 0.98 and not throttled, f"{throttled} x 429")


def throughput_limit_off(files: int, rounds: int = 2) -> Row:
    """Files a second, limit off: ``sync`` (4 upload workers) against the plain three-step
    loop on 4 threads, each run ``rounds`` times in turn, best of each."""
    best_sync = best_plain = float("inf")
    with EmuProc(work_items=2 * rounds + 1, rate_limit="off") as emu, \
            tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            plain_paths = make_tree(Path(tmp) / f"plain{n}", files)
            best_plain = min(best_plain, plain_upload_loop(emu, emu.work_items[2 * n],
                                                           plain_paths, tag=f"plain{n}"))
            root = Path(tmp) / f"docs{n}"
            make_tree(root, files)
            config = write_config(Path(tmp) / f"c{n}.json", emu, [
                {"path": str(root), "work_item": emu.work_items[2 * n + 1]["identifier"]}],
                Path(tmp) / f"state{n}", rate_limit=UNLIMITED)
            code, seconds = run_sync(config)
            assert code == 0, code
            best_sync = min(best_sync, seconds)
    ratio = best_plain / best_sync
    return Row("throughput, limit off", f"{files / best_sync:.0f} files/s",
               f"{files / best_plain:.0f} files/s plain, 4 threads", ratio, ">= 0.9x",
               ratio >= 0.9)


def noop_sync(files: int, rounds: int = 3) -> Row:
    """A ``sync`` that finds everything uploaded, against what it cannot avoid: one listing
    of the work item and a walk with lstat of the folder."""
    import httpx

    with EmuProc(rate_limit="off") as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "docs"
        make_tree(root, files, per_dir=100)
        item = emu.work_items[0]
        config = write_config(Path(tmp) / "c.json", emu, [
            {"path": str(root), "work_item": item["identifier"]}], Path(tmp) / "state",
            rate_limit=UNLIMITED)
        assert run_sync(config)[0] == 0
        url = (f"{emu.url}/api/v1/workspaces/{emu.workspace}/projects/{item['project_id']}/"
               f"work-items/{item['id']}/attachments/")
        best_sync = best_plain = float("inf")
        with httpx.Client(headers={"X-API-Key": emu.api_key}) as api:
            for _ in range(rounds):
                start = time.perf_counter()
                assert len(api.get(url).json()) == files
                assert walk_lstat(root) == files
                best_plain = min(best_plain, time.perf_counter() - start)
                code, seconds = run_sync(config)
                assert code == 0
                best_sync = min(best_sync, seconds)
    return Row(f"no-op sync, {files:,} files", f"{best_sync * 1000:.0f} ms",
               f"{best_plain * 1000:.0f} ms list + walk", best_sync / best_plain, "-", None,
               "whole command: config, state, look-up, list, scan")
