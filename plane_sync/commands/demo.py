"""``plane-sync demo``: plane-sync on the embedded Plane emulator, for a first look without
a Plane account. Starts the emulator on loopback, makes a demo folder with a few files, runs the
daemon on it and prints each upload as it lands; files dropped in later are uploaded too."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
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


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level or "warning", args.log_format or "auto")
    base = Path(tempfile.mkdtemp(prefix="plane-sync-demo-"))
    folder = Path(args.folder).expanduser().absolute() if args.folder else base / "PROJ-1"
    with Emulator(rate_limit=DEMO_RATE) as emu:
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
        print(f"Watching {visible(folder)}\nDrop files in: each is uploaded to {ident} once it has "
              "not changed for a second. Ctrl-C stops.\n", flush=True)

        def show(report: PassReport) -> None:
            for rel, size in report.uploaded:
                print(f"uploaded  {visible(rel)} ({human_size(size)}) -> {report.label}",
                      flush=True)
            for name, reason in report.deleted:
                print(f"deleted   {visible(name)} ({visible(reason)})", flush=True)
            for rel, reason in report.skipped:
                print(f"skipped   {visible(rel)}: {visible(reason)}", flush=True)

        daemon = Daemon(config, on_pass=show, stop_deadline=5.0)
        daemon.install_signal_handlers()
        code = daemon.run()
        listed = emu.attachments(emu.work_items[0]["id"])
        print(f"\n{ident} has {len(listed)} attachment(s) (files in subfolders are named "
              "\"sub \u2044 file\"):")
        for row in listed:
            print(f"  {visible(row['attributes']['name'])} "
                  f"({human_size(row['attributes']['size'])})")
        if args.folder:
            shutil.rmtree(base, ignore_errors=True)  # only the demo's state was in there
        else:
            print(f"\nThe demo folder is left in {base} (remove it with: rm -r {base}).")
        print("Next: copy config.example.yaml to ~/.config/plane-sync/config.yaml, "
              "then plane-sync check.")
        sys.stdout.flush()
        return code
