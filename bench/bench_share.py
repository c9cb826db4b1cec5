"""What a change and an idle rescan cost on a polled network share, against the share's size.

A private sshd on loopback exports N small files (default 20,000 of ~1.3 kB, the share of
issue 13); ``plane-sync sync`` uploads them into the Plane emulator through an sshfs mount, then
the daemon is started on the same state directory (its catch-up pass is measured too: it
should read nothing). Once it is in sync:

  change:  one new 13-byte file written on the server (as another machine would);
           measured from the write until the pass after its upload has ended.
  rescan:  one periodic rescan with nothing changed.

For each: file bytes the server read (its SFTP log: every closed file with the bytes read from
it, i.e. what crossed the network), the CPU time of the passes (the pass thread's own, from
the sync.pass log line), their duration, and the daemon's whole CPU time over the window
(/proc/PID/stat, all threads: the polls every 5 s included). The baseline, run side by side on
the same mount before the daemon starts: one scan that hashes the whole share over sshfs,
which is what every change and every idle rescan cost before the fix.

    sudo .venv/bin/python bench/bench_share.py              # 20,000 files
    sudo .venv/bin/python bench/bench_share.py -n 2000      # quick

Needs root, FUSE, sshd and sshfs (see tests/e2e_share/share.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plane_sync.emulator import Emulator  # noqa: E402
from plane_sync.local.ignore import IgnoreRules  # noqa: E402
from plane_sync.local.scan import scan_folder  # noqa: E402
from tests.e2e_daemon.conftest import (  # noqa: E402
    DaemonFactory,
    DaemonProcess,
    folder_entry,
    wait_until,
)
from tests.e2e_share.share import SftpServer, SshfsMount, unavailable_reason  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def build_share(export: Path, count: int) -> int:
    total = 0
    for i in range(count):
        d = export / f"d{i // 200:03d}"
        if i % 200 == 0:
            d.mkdir()
        body = (f"file {i:06d} " * 120)[: 1200 + i % 200].encode()  # 1.3 kB on average
        (d / f"f{i:06d}.txt").write_bytes(body)
        total += len(body)
    return total


def passes(daemon: DaemonProcess) -> list[dict[str, Any]]:
    return daemon.events("sync.pass")


def measure(daemon: DaemonProcess, server: SftpServer, action: Any, done: Any,
            timeout: float) -> dict[str, float]:
    mark, before_cpu, before = server.log_mark(), cpu_seconds(daemon.pid), len(passes(daemon))
    started = time.monotonic()
    action()
    wait_until(lambda: done(passes(daemon)[before:]), timeout, "the measured pass")
    time.sleep(0.5)  # the server logs a close just after it answered it
    read, files = server.bytes_read(mark)
    ours = passes(daemon)[before:]
    return {"bytes": read, "files": len(files), "cpu": sum(p["cpu_ms"] for p in ours) / 1000,
            "daemon_cpu": cpu_seconds(daemon.pid) - before_cpu,
            "wall": time.monotonic() - started, "passes": len(ours),
            "pass_s": sum(p["ms"] for p in ours) / 1000,
            "hashed": sum(p["hashed"] for p in ours)}


def baseline(server: SftpServer, share: SshfsMount) -> dict[str, float]:
    """One scan of the whole share over sshfs, hashing every file (no cache)."""
    mark = server.log_mark()
    wall, cpu = time.monotonic(), time.thread_time()
    scan = scan_folder(share.mount_point, IgnoreRules())
    cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    time.sleep(0.5)  # the server logs a close just after it answered it
    read, files = server.bytes_read(mark)
    return {"bytes": read, "files": len(files), "cpu": cpu, "daemon_cpu": cpu, "wall": wall,
            "passes": 1, "pass_s": wall, "hashed": scan.hashed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--files", type=int, default=20_000)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory() as tmp, Emulator(rate_limit=None) as emu:
        root = Path(tmp)
        server = SftpServer(root / "server").start()
        share = SshfsMount(server, root / "mnt")
        daemons = DaemonFactory(emu, root)
        try:
            size = build_share(server.export, args.files)
            share.mount()
            base = baseline(server, share)
            item = emu.work_items[0]
            daemon = daemons([folder_entry(share.mount_point, item["identifier"],
                                           rescan_interval="45s")],
                             watch="auto", poll_interval=5.0, settle=1.0)
            print(f"share: {args.files} files, {size:,} bytes; first sync (plane-sync sync)...",
                  flush=True)
            subprocess.run([sys.executable, "-m", "plane_sync", "sync", "-c",
                            str(daemon.config_path)], cwd=REPO, env=daemon.env, check=True,
                           timeout=7200, stdout=subprocess.DEVNULL)
            mark = server.log_mark()
            daemon.start("--log-level", "debug")
            daemon.wait_event("daemon.initial_sync_done", timeout=3600)
            restart = server.bytes_read(mark)[0]
            time.sleep(2.0)

            def new_file() -> None:
                (server.export / "d000" / "new.txt").write_bytes(b"a new file\n..")

            change = measure(daemon, server, new_file,
                             lambda ps: any(p["uploaded"] for p in ps), 600)
            time.sleep(1.0)
            rescan = measure(daemon, server, lambda: None,
                             lambda ps: len(ps) >= 1 and not any(p["uploaded"] for p in ps),
                             600)
            daemon.stop()
        finally:
            server.resume()
            for d in daemons.made:
                d.kill()
            share.unmount()
            server.stop()
    print(f"\n{'':28}{'bytes read':>12}{'of share':>10}{'files':>7}{'pass CPU s':>11}"
          f"{'pass s':>8}{'daemon CPU s':>13}{'window s':>9}")
    rows = (("one new 13-byte file", change), ("idle rescan", rescan),
            ("baseline: hash everything", base))
    for name, m in rows:
        print(f"{name:28}{m['bytes']:>12,.0f}{100 * m['bytes'] / size:>9.4f}%"
              f"{m['files']:>7.0f}{m['cpu']:>11.2f}{m['pass_s']:>8.2f}{m['daemon_cpu']:>13.2f}"
              f"{m['wall']:>9.1f}")
    print(f"\ndaemon started on the synced share: its catch-up pass read {restart:,} bytes")
    print(f"share: {args.files:,} files, {size:,} bytes. Pass CPU against the baseline: "
          f"change {change['cpu'] / base['cpu']:.3f}, "
          f"idle rescan {rescan['cpu'] / base['cpu']:.3f}")


if __name__ == "__main__":
    main()
