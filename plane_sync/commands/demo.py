"""``plane-sync demo``: plane-sync on the embedded Plane emulator, for a first look without
a Plane account. Starts the emulator on loopback, makes a demo folder with a few files, runs the
daemon on it and prints each upload as it lands; files dropped in later are uploaded too.

The terminal shows only the demo's own lines, each said once (a file skipped is named when
it is first skipped, not after every pass); the daemon's log goes to a file beside the demo
folder, named at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from plane_sync.config.load import parse_config
from plane_sync.core.display import visible
from plane_sync.emulator import Emulator
from plane_sync.service.daemon import Daemon
from plane_sync.service.logs import configure_logging
from plane_sync.service.report import human_size
from plane_sync.sync.outcome import PassReport

DEMO_RATE = (600, 60.0)  # the emulator's limit, and what the client paces itself to
SAMPLE_FILES = {
    "README.txt": "Files in this folder are mirrored into work item {ident}.\n",
    "notes/meeting.md": "# Meeting notes\n\n- plane-sync demo\n",
    "data/measurements.csv": "when,value\n2026-11-29,42\n",
}


def _demo_config_text(emu: Emulator, folder: Path, state_dir: Path) -> str:
    ident = emu.work_items[0]["identifier"]
    return json.dumps({  # JSON is YAML: no quoting surprises in paths
        "plane": {"url": emu.url, "api_key": emu.api_key, "workspace": emu.workspace,
                  "rate_limit": f"{DEMO_RATE[0]}/{DEMO_RATE[1]:g}s"},  # pace to the emulator's
        "state_dir": str(state_dir),
        "defaults": {"settle": "1s", "rescan_interval": "1m"},
        "folders": [{"path": str(folder), "work_item": ident}],
    })


@contextlib.contextmanager
def _emulator() -> Iterator[Emulator]:
    emu = Emulator(rate_limit=DEMO_RATE).start()
    try:
        yield emu
    finally:
        emu.stop()


def run(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="plane-sync-demo-"))
    log_path = base / "demo.log"
    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open until the end
    configure_logging(args.log_level or "info", args.log_format or "console", stream=log_file)
    try:
        return _demo(args, base, log_path)
    finally:
        log_file.close()


def _demo(args: argparse.Namespace, base: Path, log_path: Path) -> int:
    folder = Path(args.folder).expanduser().absolute() if args.folder else base / "PROJ-1"
    with _emulator() as emu:
        ident = emu.work_items[0]["identifier"]
        folder.mkdir(parents=True, exist_ok=True)
        for rel, text in SAMPLE_FILES.items():
            path = folder / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text.format(ident=ident), encoding="utf-8")
        config = parse_config(_demo_config_text(emu, folder, base / "state"),
                              source="<demo>", env={})
        print(f"Plane emulator at {emu.url} (workspace {emu.workspace}, work item {ident}); "
              "it lives only as long as this demo.")
        print(f"Watching {visible(folder)}\nDrop files in: each is uploaded to {ident} once it "
              f"has not changed for a second. Ctrl-C stops. (The daemon's log: "
              f"{visible(log_path)})\n", flush=True)
        said_skipped: set[tuple[str, str]] = set()

        def show(report: PassReport) -> None:
            for rel, size in report.uploaded:
                print(f"uploaded  {visible(rel)} ({human_size(size)}) -> {report.label}",
                      flush=True)
            for name, reason in report.deleted:
                print(f"deleted   {visible(name)} ({visible(reason)})", flush=True)
            for name, reason in report.kept:
                print(f"kept      {visible(name)} ({visible(reason)})", flush=True)
            for rel, reason in report.skipped:
                if (rel, reason) not in said_skipped:
                    print(f"skipped   {visible(rel)}: {visible(reason)}", flush=True)
            said_skipped.intersection_update(report.skipped)  # said again if it comes back
            said_skipped.update(report.skipped)

        daemon = Daemon(config, on_pass=show, stop_deadline=5.0)
        daemon.install_signal_handlers()
        daemon.run()  # Ctrl-C is how a demo ends: exit 0, not the daemon's 130
        listed = emu.attachments(emu.work_items[0]["id"])
        print(f"\n{ident} has {len(listed)} attachment(s) (files in subfolders are named "
              "\"sub \u2044 file\"):")
        for row in listed:
            print(f"  {visible(row['attributes']['name'])} "
                  f"({human_size(row['attributes']['size'])})")
        if args.folder:
            shutil.rmtree(base / "state", ignore_errors=True)  # only the demo's state
            print(f"\nThe daemon's log is in {visible(log_path)}.")
        else:
            shown = visible(base)
            print(f"\nThe demo folder is left in {shown} (remove it with: rm -r {shown}).")
        print("Next: copy config.example.yaml to ~/.config/plane-sync/config.yaml, "
              "then plane-sync check.")
        sys.stdout.flush()
        return 0
