"""How close to the rate limit do uploads run, and do they ever hit a 429?

Starts the Plane emulator with a shortened window (default 60 requests per 3 s instead of per
60 s, so it runs in seconds), uploads N small files through one shared PlaneClient from a few
threads, and prints: API requests, 429 answers (from the emulator's request log), elapsed
time, the minimum the limit allows for that many requests, and the ratio.

The minimum: a sliding window of L requests per W seconds lets request k (0-based) leave no
earlier than floor(k / L) * W, so R requests need at least floor((R - 1) / L) * W. The ratio
is measured from the first API request to the last answer. The steady-rate figure R * W / L
is printed too.

    .venv/bin/python bench/bench_ratelimit.py [--uploads 100] [--limit 60] [--window 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import structlog

from plane_sync.core.models import UploadResult
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.upload import upload_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    with Emulator(rate_limit=(args.limit, args.window)) as emu, \
            tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n in range(args.uploads):
            path = Path(tmp) / f"file-{n:04d}.txt"
            path.write_bytes(f"file number {n}\n".encode())
            paths.append(path)
        client = PlaneClient(emu.url, emu.api_key, emu.workspace,
                             rate_limit=(args.limit, args.window))
        item = client.resolve_identifier("PROJ-1")

        def one(path: Path) -> None:
            data = path.read_bytes()
            result = upload_file(client, item, path, name=path.name, mime_type="text/plain",
                                 size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                 external_id=f"bench:{path.name}", external_source="bench",
                                 size_limit=5 * 1024 * 1024)
            assert isinstance(result, UploadResult)

        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(one, paths))
        done = time.monotonic()
        client.close()
        api = [r for r in emu.requests() if r.server == "api"]

    # The emulator stamps records with time.time(); elapsed spans first request to last.
    first = min(r.time for r in api)
    last = max(r.time for r in api)
    del done
    elapsed = last - first
    requests = len(api)
    throttled = sum(r.status == 429 for r in api)
    minimum = ((requests - 1) // args.limit) * args.window
    steady = requests * args.window / args.limit
    print(f"limit            {args.limit} requests / {args.window:g} s")
    print(f"uploads          {args.uploads} ({args.threads} threads, one shared client)")
    print(f"api requests     {requests}")
    print(f"429 answers      {throttled}")
    print(f"elapsed          {elapsed:.2f} s")
    print(f"minimum allowed  {minimum:.2f} s  (steady rate would be {steady:.2f} s)")
    print(f"ratio            {elapsed / minimum:.3f}" if minimum else "ratio            n/a")
    return 0 if throttled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
