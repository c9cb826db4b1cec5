"""One settled pass over a target, for ``plane-sync sync``: look twice, as the daemon does.

A file is taken only once its size and mtime have held still for the folder's ``settle`` time
as seen by this process (:class:`plane_sync.local.settle.Settler`): a writer on a file server
whose clock lags would otherwise make a half-written file look old. Only on a local filesystem
may a ctime already ``settle`` old prove a file stable at first sight; on a network filesystem
the server's clock is never trusted. So a pass that leaves files still changing is followed,
``settle`` later, by another; and a pass left waiting on something due within a few seconds
(Plane filling in a checksum) is repeated once it is due, unless uploads are paused (that
lasts; the next run tries again). A file that never settles is taken as it is after the
daemon's maximum wait, with the same warning (:func:`plane_sync.local.settle.folder_settler`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plane_sync.local import mounts
from plane_sync.local.settle import folder_settler
from plane_sync.sync.engine import Engine
from plane_sync.sync.outcome import PassReport
from plane_sync.sync.targets import Target

SHORT_WAIT = 15.0  # a timed wait due within this is waited for; a longer one is reported


def trusts_ctime(target: Target) -> bool:
    """Whether the folder's filesystem stamps ctime with this machine's clock."""
    try:
        fstype = mounts.filesystem_type(target.root)
    except OSError:
        return False
    return not mounts.is_network_filesystem(fstype)


def settled_pass(engine: Engine, target: Target, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> PassReport:
    """Passes over ``target`` until nothing in it is still settling (see module docstring)."""
    settle = max(target.folder.settle, 0.0)
    settler = folder_settler(settle, trust_ctime=trusts_ctime(target), clock=clock,
                             wall_clock=wall_clock)
    settled = settler.scan_check(target.key, target.root)
    deadline = clock() + settler.max_wait + settle + SHORT_WAIT
    earlier: list[PassReport] = []
    while True:
        report = engine.sync_target(target, settled=settled)
        waiting = {path for path, _ in report.waiting}
        settling = waiting - set(report.next_check)
        now = wall_clock()
        # Uploads paused (expired policies): a condition that lasts, not worth another file's
        # try within this run; the next run (or the daemon) tries again.
        due_soon = [] if report.paused else [t - now for t in report.next_check.values()
                                             if t - now <= SHORT_WAIT]
        if not (settling or due_soon) or clock() >= deadline:
            return _merged(earlier, report)
        delay = max(settle, 0.2) if settling else max(min(due_soon), 0.2)
        settler.retain(target.key, waiting)
        earlier.append(report)
        sleep(delay)


def _merged(earlier: list[PassReport], last: PassReport) -> PassReport:
    """One report for the run: what every pass uploaded and deleted; what is left (waiting,
    failed, skipped, held) as the last pass found it."""
    if not earlier:
        return last
    uploaded = {path: size for r in [*earlier, last] for path, size in r.uploaded}
    deleted = [d for r in earlier for d in r.deleted] + last.deleted
    busy = {p for p, _ in last.waiting} | {p for p, _ in last.failed} | {
        p for p, _ in last.skipped}
    done_before = {p for p in uploaded if p not in busy} - {p for p, _ in last.uploaded}
    last.uploaded = sorted(uploaded.items())
    last.deleted = deleted
    last.in_sync = max(last.in_sync - len(done_before), 0)
    return last
