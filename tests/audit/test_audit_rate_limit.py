"""Issue 2, "Done when": with the emulator at its rate limit, many uploads finish with zero 429
answers; the limiter is one per API key, shared by every caller in the process.

The timing half of that item (no more than 5% slower than the limit) is bench/'s job
(bench_ratelimit.py); here only the count of 429 answers, which does not depend on speed.
Two PlaneClients of one key, each used by two threads, upload through an emulator whose
sliding window is shortened to 25 requests per second.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from plane_sync.core.models import UploadResult
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.upload import upload_file
from tests.conftest import EmulatorFactory

LIMIT, WINDOW = 25, 1.0
UPLOADS = 30


def test_uploads_at_the_limit_from_two_clients_of_one_key_get_no_429(
        emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emu: Emulator = emulator_factory(rate_limit=(LIMIT, WINDOW))
    paths = []
    for n in range(UPLOADS):
        path = tmp_path / f"file-{n:03d}.txt"
        path.write_bytes(f"file number {n}\n".encode())
        paths.append(path)
    clients = [PlaneClient(emu.url, emu.api_key, emu.workspace, rate_limit=(LIMIT, WINDOW))
               for _ in range(2)]
    errors: list[BaseException] = []
    try:
        items = [c.resolve_identifier("PROJ-1") for c in clients]

        def worker(index: int) -> None:
            client, item = clients[index % 2], items[index % 2]
            try:
                for path in paths[index::4]:
                    data = path.read_bytes()
                    result = upload_file(
                        client, item, path, name=path.name, mime_type="text/plain",
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        external_id=f"audit:{path.name}", external_source="audit",
                        size_limit=2**20)
                    assert isinstance(result, UploadResult)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        for c in clients:
            c.close()
    assert errors == []
    api = [r for r in emu.requests() if r.server == "api" and r.path.startswith("/api/v1/")]
    assert len(api) >= 2 * UPLOADS  # a create and a complete per upload: the window was full
    throttled = [r for r in api if r.status == 429]
    assert throttled == [], f"{len(throttled)} of {len(api)} requests answered 429"
    assert len(emu.attachments(emu.work_items[0]["id"])) == UPLOADS
