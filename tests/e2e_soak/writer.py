"""A writer thread that keeps changing files in some folders: create, modify, rename, delete.

Each folder keeps between ``min_files`` and ``max_files`` files, and creates outweigh deletes
and renames, so that a long outage never makes the daemon's "more than half gone" guard hold
deletions back (which would be right, but is not what the soak test looks at).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

WEIGHTS = {"create": 4, "modify": 3, "rename": 2, "delete": 1}


class Writer(threading.Thread):
    def __init__(self, folders: list[Path], *, seed: int, interval: float,
                 min_files: int = 10, max_files: int = 30) -> None:
        super().__init__(name="soak-writer", daemon=True)
        self.folders = folders
        self.interval = interval
        self.min_files, self.max_files = min_files, max_files
        self.ops: Counter[str] = Counter()
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self._rng = random.Random(seed)
        self._serial = 0

    def populate(self, per_folder: int) -> None:
        for folder in self.folders:
            for _ in range(per_folder):
                self._create(folder)

    def run(self) -> None:
        try:
            while not self.halt.wait(self.interval):
                self.step()
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        if self.error is not None:
            raise self.error

    def step(self) -> None:
        folder = self._rng.choice(self.folders)
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if len(files) <= self.min_files:
            op = "create"
        elif len(files) >= self.max_files:
            op = "delete"
        else:
            op = self._rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if op == "create":
            self._create(folder)
        elif op == "modify":
            self._rng.choice(files).write_bytes(self._content())
        elif op == "rename":
            self._rng.choice(files).rename(folder / self._new_name())
        else:
            self._rng.choice(files).unlink()
        self.ops[op] += 1

    def _create(self, folder: Path) -> None:
        (folder / self._new_name()).write_bytes(self._content())
        self.ops["create"] += 1

    def _new_name(self) -> str:
        self._serial += 1
        return f"note-{self._serial:04d}.txt"

    def _content(self) -> bytes:
        return self._rng.randbytes(self._rng.randint(64, 20_000))
