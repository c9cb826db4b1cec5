"""Peak memory of a large upload: streamed from disk (upload_file) vs. read into bytes.

The parent starts the Plane emulator (size limit raised) and writes a test file (default
200 MiB); each upload runs in a fresh child process, which reports its idle RSS (after
imports, client set-up and work-item lookup), its peak RSS (ru_maxrss) after the upload, and
tracemalloc's peak. The baseline child reads the whole file into bytes and posts it with
httpx's own multipart encoder, as the official SDK does.

    .venv/bin/python bench/bench_upload_memory.py [--mib 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, url: str, key: str, workspace: str, path: str, sha256: str) -> None:
    import structlog

    from plane_sync.core.models import UploadTicket
    from plane_sync.remote.client import PlaneClient
    from plane_sync.remote.upload import upload_file

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    size = os.path.getsize(path)
    client = PlaneClient(url, key, workspace, rate_limit=(1000, 1.0), timeout=300.0)
    item = client.resolve_identifier("PROJ-1")
    idle = rss_mib()
    tracemalloc.start()
    if mode == "stream":
        upload_file(client, item, path, name=f"{mode}.bin", mime_type="application/octet-stream",
                    size=size, sha256=sha256, size_limit=size)
    else:
        data = Path(path).read_bytes()
        ticket = client.create_attachment(item, name=f"{mode}.bin",
                                          mime_type="application/octet-stream", size=size)
        assert isinstance(ticket, UploadTicket)
        resp = client.storage_client.post(
            ticket.url, data=dict(ticket.fields),
            files={"file": (f"{mode}.bin", data, "application/octet-stream")})
        assert resp.status_code == 204, resp.status_code
        client.complete_attachment(item, ticket.attachment_id)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    client.close()
    print(json.dumps({"idle": idle, "peak": rss_mib(), "traced_peak": traced_peak / 2**20}))


def run_child(mode: str, emu_url: str, key: str, workspace: str, path: Path,
              sha256: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, emu_url, key, workspace, str(path), sha256],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH":
                                                          str(Path(__file__).parents[1])})
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--child", nargs=6, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    from plane_sync.emulator import Emulator

    size = args.mib * 2**20
    with tempfile.TemporaryDirectory() as tmp, \
            Emulator(rate_limit=None, file_size_limit=size) as emu:
        path = Path(tmp) / "big.bin"
        digest = hashlib.sha256()
        block = os.urandom(2**20)
        with path.open("wb") as f:
            for n in range(args.mib):
                chunk = n.to_bytes(8, "big") + block[8:]
                f.write(chunk)
                digest.update(chunk)
        sha = digest.hexdigest()
        results = {mode: run_child(mode, emu.url, emu.api_key, emu.workspace, path, sha)
                   for mode in ("stream", "bytes")}
    print(f"file size               {args.mib} MiB")
    for mode, label in (("stream", "upload_file (streamed)"), ("bytes", "baseline (bytes)")):
        r = results[mode]
        print(f"{label:23} peak RSS above idle {r['peak'] - r['idle']:7.1f} MiB   "
              f"(idle {r['idle']:.1f}, peak {r['peak']:.1f}; tracemalloc peak "
              f"{r['traced_peak']:.1f} MiB)")
    streamed = results["stream"]["peak"] - results["stream"]["idle"]
    baseline = results["bytes"]["peak"] - results["bytes"]["idle"]
    print(f"ratio streamed/baseline {streamed / baseline:.3f}" if baseline > 0 else "")
    print(f"under 64 MiB            {'yes' if streamed < 64 else 'NO'}")
    return 0 if streamed < 64 else 1


if __name__ == "__main__":
    sys.exit(main())
