"""Issue 2, "Three-step upload": the file is streamed from disk; memory must not grow with it.

bench/bench_upload_memory.py measures RSS for the closing note; this test guards the property
itself. The emulator runs as its own process, so tracemalloc here sees only the client: the
peak of Python allocations during a 48 MiB upload must stay far below the file's size.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

from plane_sync.core.models import UploadResult
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.upload import upload_file
from tests.audit.conftest import EmulatorProcess

SIZE = 48 * 2**20
PEAK_LIMIT = 8 * 2**20  # generous for 64 KiB chunks, far below the file size


def test_a_large_upload_is_streamed_not_held_in_memory(
        emulator_process: EmulatorProcess, tmp_path: Path) -> None:
    ready = emulator_process("--rate-limit", "off", "--file-size-limit", str(SIZE))
    path = tmp_path / "large.bin"
    digest = hashlib.sha256()
    block = os.urandom(2**20)
    with path.open("wb") as f:
        for n in range(SIZE // len(block)):
            chunk = block[:-1] + bytes([n % 256])  # no two MiB alike
            digest.update(chunk)
            f.write(chunk)
    with PlaneClient(ready["url"], ready["api_key"], ready["workspace"],
                     rate_limit=(1000, 1.0), timeout=120.0) as client:
        item = client.resolve_identifier(ready["work_items"][0]["identifier"])
        tracemalloc.start()
        try:
            result = upload_file(client, item, path, name="large.bin",
                                 mime_type="application/octet-stream", size=SIZE,
                                 sha256=digest.hexdigest(), size_limit=SIZE)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert isinstance(result, UploadResult) and result.bytes_sent == SIZE
        (listed,) = client.list_attachments(item)
        assert listed.size == SIZE
    assert peak < PEAK_LIMIT, f"peak Python allocation {peak / 2**20:.1f} MiB for a " \
                              f"{SIZE // 2**20} MiB upload"
