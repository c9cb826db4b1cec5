"""The Plane emulator in a process of its own, steered over stdin/stdout, for the suite.

A benchmark that runs the emulator in its own process measures the client, not the two
fighting for one interpreter lock (a real Plane is another machine). Commands are JSON lines
on stdin, answers JSON lines on stdout:

    {"op": "stats", "since": T}   API requests since T (Unix time): count, by status,
                                  attachment listings, first and last time
    {"op": "seed", "file": PATH}  add uploaded attachments from a JSON list of
                                  [work item index, name, external_id, external_source, size]
    {"op": "clear"}               forget the request log
    {"op": "quit"}

Run: python bench/emu_proc.py [--work-items N] [--rate-limit N/SECONDS|off]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def serve(work_items: int, rate_limit: tuple[int, float] | None) -> None:
    from plane_sync.emulator import Emulator

    with Emulator(work_items=work_items, rate_limit=rate_limit) as emu:
        items = emu.work_items
        print(json.dumps({"url": emu.url, "api_key": emu.api_key, "workspace": emu.workspace,
                          "work_items": items}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            answer: dict[str, Any] = {"ok": True}
            if op == "stats":
                since = float(command.get("since", 0.0))
                api = [r for r in emu.requests()
                       if r.server == "api" and r.path.startswith("/api/v1/") and r.time >= since]
                answer.update(
                    count=len(api), by_status=dict(Counter(str(r.status) for r in api)),
                    lists=sum(1 for r in api if r.method == "GET"
                              and r.path.endswith("attachments/")),
                    first=min((r.time for r in api), default=None),
                    last=max((r.time for r in api), default=None))
            elif op == "seed":
                rows = json.loads(Path(command["file"]).read_text())
                for index, name, external_id, source, size in rows:
                    emu.add_attachment(items[index]["id"], name=name, size=size,
                                       external_id=external_id, external_source=source)
                answer["seeded"] = len(rows)
            elif op == "clear":
                emu.clear_requests()
            elif op == "quit":
                print(json.dumps(answer), flush=True)
                return
            print(json.dumps(answer), flush=True)


class EmuProc:
    """The emulator process, from the benchmark's side."""

    def __init__(self, *, work_items: int = 3, rate_limit: str = "off") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "--work-items", str(work_items),
             "--rate-limit", rate_limit],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url: str = info["url"]
        self.api_key: str = info["api_key"]
        self.workspace: str = info["workspace"]
        self.work_items: list[dict[str, Any]] = info["work_items"]

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.ask("quit")
            self.proc.wait(30)

    def __enter__(self) -> EmuProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-items", type=int, default=3)
    parser.add_argument("--rate-limit", default="off")
    args = parser.parse_args()
    limit = None
    if args.rate_limit != "off":
        count, seconds = args.rate_limit.split("/")
        limit = (int(count), float(seconds))
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    serve(args.work_items, limit)


if __name__ == "__main__":
    main()
