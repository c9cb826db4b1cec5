"""What the suite's rows share: trees of files, configs, ``plane-sync sync`` run in this
process, and the baseline a plain client would be: the three-step upload in a loop."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.emu_proc import EmuProc


@dataclass
class Row:
    """One line of the table: a figure, the baseline it is measured against, the goal."""

    name: str
    figure: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None  # None: no goal, or not measured
    note: str = ""


def make_tree(root: Path, files: int, *, per_dir: int = 0, size: int = 64,
              prefix: str = "") -> list[Path]:
    """``files`` small files of distinct content; ``per_dir`` > 0 spreads them over
    directories of that many (``d0000/``, ...)."""
    paths = []
    for n in range(files):
        directory = root / f"d{n // per_dir:04d}" if per_dir else root
        if not per_dir or n % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{prefix}f{n:06d}.txt"
        body = f"file {prefix}{n}\n".encode()
        path.write_bytes(body + b"x" * max(0, size - len(body)))
        paths.append(path)
    return paths


def write_config(path: Path, emu: EmuProc, folders: list[dict[str, Any]], state: Path,
                 **plane: Any) -> Path:
    config = {
        "plane": {"url": emu.url, "api_key": emu.api_key, "workspace": emu.workspace,
                  "timeout": "60s", **plane},
        "state_dir": str(state),
        "defaults": {"settle": 0, "watch": "inotify", "rescan_interval": "10m"},
        "folders": folders,
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    path.chmod(0o600)
    return path


def run_sync(config: Path, *args: str) -> tuple[int, float]:
    """``plane-sync sync`` in this process (no interpreter start-up in the figure), its
    report swallowed; (exit code, seconds)."""
    from plane_sync.cli import main

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["sync", "-c", str(config), "--log-level", "error", *args])
    return code, time.perf_counter() - start


def plain_upload_loop(emu: EmuProc, item: dict[str, Any], paths: list[Path], *,
                      threads: int = 4, tag: str = "plain") -> float:
    """The baseline: what any client must do, nothing more. Per file the three steps (create,
    presigned POST, complete) on ``threads`` threads sharing one connection pool; no
    hashing, no journal, no pacing. Seconds taken."""
    base = (f"{emu.url}/api/v1/workspaces/{emu.workspace}/projects/{item['project_id']}/"
            f"work-items/{item['id']}/attachments/")
    limits = httpx.Limits(max_connections=threads * 2, max_keepalive_connections=threads * 2)
    with httpx.Client(headers={"X-API-Key": emu.api_key}, limits=limits,
                      timeout=60.0) as api, httpx.Client(limits=limits, timeout=60.0) as store:

        def one(path: Path) -> None:
            data = path.read_bytes()
            created = api.post(base, json={
                "name": path.name, "type": "text/plain", "size": len(data),
                "external_id": f"{tag}:{path.name}", "external_source": tag})
            created.raise_for_status()
            body = created.json()
            upload = body["upload_data"]
            stored = store.post(upload["url"], data=upload["fields"],
                                files={"file": (path.name, data, "text/plain")})
            assert stored.status_code == 204, stored.text
            done = api.patch(f"{base}{body['asset_id']}/", json={"is_uploaded": True})
            assert done.status_code in (200, 204), done.text

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, paths))
        return time.perf_counter() - start


def walk_lstat(root: Path) -> int:
    """The plain walk any scanner must at least do: os.scandir down the tree and an lstat
    of every file."""
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.lstat(entry.path)
                    count += 1
    return count


def external_ids(root: Path, paths: list[Path]) -> Iterator[tuple[str, str, int]]:
    """(name, external_id, size) of each file as plane-sync would upload it."""
    from plane_sync.core.identity import attachment_name_for, external_id_for

    for path in paths:
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        yield (attachment_name_for(rel), external_id_for(rel, hashlib.sha256(data).hexdigest()),
               len(data))


def rss_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MiB of a process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


class Sampler(threading.Thread):
    """The peak RSS of a process, sampled every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            with contextlib.suppress(OSError, KeyError):
                self.peak = max(self.peak, rss_mib(self.pid)[0])

    def stop(self) -> None:
        self._stop_event.set()
