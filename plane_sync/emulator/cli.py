"""``plane-sync emulator``: run the emulator until SIGINT/SIGTERM.

When ready it prints one JSON line to stdout (url, api_key, workspace, project and work items)
so a script or test can read it; the key is the emulator's own, printed on purpose.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from plane_sync.emulator.app import Emulator

DESCRIPTION = """\
Serve a Plane API emulator and an S3-like storage host on loopback until Ctrl-C or SIGTERM.
Once ready it prints one JSON line on stdout: url, api_key, workspace, project and work
items, for a script or test to read (the key is the emulator's own, printed on purpose)."""


def _rate_limit(text: str) -> tuple[int, float] | None:
    if text.lower() in ("off", "none", "0"):
        return None
    count, sep, seconds = text.partition("/")
    try:
        return int(count), float(seconds) if sep else 60.0
    except ValueError:
        raise argparse.ArgumentTypeError("expected N/SECONDS, e.g. 60/60, or 'off'") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plane-sync emulator", description=DESCRIPTION,
        epilog="exit status: 0 after Ctrl-C or SIGTERM; 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8080,
                        help="port of the Plane API (default 8080; 0 picks a free port)")
    parser.add_argument("--storage-port", type=int, default=0,
                        help="port of the storage host (default 0: a free port)")
    parser.add_argument("--api-key", default=None,
                        help="the API key it accepts (default: a random plane_api_<hex>)")
    parser.add_argument("--workspace", default="acme",
                        help="the workspace slug (default acme)")
    parser.add_argument("--project", default="PROJ",
                        help="the project identifier (default PROJ)")
    parser.add_argument("--work-items", type=int, default=3,
                        help="how many work items the project has (default 3: PROJ-1..3)")
    parser.add_argument("--rate-limit", type=_rate_limit, default=(60, 60.0),
                        help="N/SECONDS (default 60/60, as Plane) or 'off'")
    parser.add_argument("--file-size-limit", type=int, default=5 * 1024 * 1024,
                        help="largest upload in bytes (default 5242880: Plane's 5 MiB)")
    parser.add_argument("--legacy-routes", action="store_true",
                        help="behave like Plane < v1.1: no /work-items/ routes")
    parser.add_argument("--clock-offset", type=float, default=0.0, metavar="SECONDS",
                        help="the API server's clock runs this far ahead (negative: behind), "
                             "as its Date and X-RateLimit-Reset headers show")
    faults = parser.add_argument_group(
        "faults", "start with these failures on (an Emulator inside a test changes them at "
                  "run time: Emulator.faults.set)")
    faults.add_argument("--error-rate", type=float, default=0.0, metavar="SHARE",
                        help="share of API requests answered 500 (0..1)")
    faults.add_argument("--drop-rate", type=float, default=0.0, metavar="SHARE",
                        help="share of API requests whose connection is closed unanswered")
    faults.add_argument("--storage-error-rate", type=float, default=0.0, metavar="SHARE",
                        help="share of uploads to storage answered 503 SlowDown")
    faults.add_argument("--expire-policies", action="store_true",
                        help="hand out upload policies that have already expired")
    faults.add_argument("--plane-clock-behind", type=float, default=0.0, metavar="SECONDS",
                        help="Plane signs upload policies with a clock this far behind the "
                             "storage host's (clock skew: they arrive expired)")
    faults.add_argument("--lose-answers", type=int, default=0, metavar="N",
                        help="carry out the next N API requests, then drop their answers "
                             "(a create that reached Plane, its answer lost)")
    faults.add_argument("--instance-down", action="store_true",
                        help="GET /api/instances/ answers 503 (the size limit cannot be read)")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    emulator = Emulator(
        api_key=args.api_key, workspace=args.workspace, project_identifier=args.project,
        work_items=args.work_items, rate_limit=args.rate_limit,
        file_size_limit=args.file_size_limit, host=args.host, port=args.port,
        storage_port=args.storage_port, legacy_routes=args.legacy_routes,
        clock_offset=args.clock_offset,
    )
    emulator.faults.set(error_rate=args.error_rate, drop_rate=args.drop_rate,
                        storage_error_rate=args.storage_error_rate,
                        expire_policies=args.expire_policies,
                        plane_clock_behind=args.plane_clock_behind,
                        lose_answers=args.lose_answers, instance_down=args.instance_down)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator.start()
    try:
        ready = {
            "url": emulator.url, "api_key": emulator.api_key, "workspace": emulator.workspace,
            "project_id": emulator.project_id, "project_identifier": emulator.project_identifier,
            "work_items": [
                {"id": item["id"], "identifier": item["identifier"]}
                for item in emulator.work_items
            ],
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        print(f"emulator listening on {emulator.url} (storage {emulator.storage_url})",
              file=sys.stderr)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
