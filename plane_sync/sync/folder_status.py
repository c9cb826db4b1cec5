"""A pass's report, as the state database keeps it for ``status``: the folder's state in one
word and why, its counts, and its waiting files with their next check."""

from __future__ import annotations

from plane_sync.sync.outcome import PassReport
from plane_sync.sync.state import FolderState, FolderStatus, StateDB
from plane_sync.sync.targets import Target


def record_status(state: StateDB, target: Target, report: PassReport, now: float) -> None:
    """Write what ``report`` says of ``target`` (wall clock ``now``)."""
    if report.unavailable:
        # Nothing was counted: keep what the last pass found (a share that went away
        # still had those files in sync).
        state.set_folder_state(target.key, str(target.root), target.label,
                               "unavailable", report.unavailable)
        return
    folder_state, reason = _state_of(report)
    state.set_waiting(target.key, [(p, r, report.next_check.get(p))
                                   for p, r in report.waiting])
    state.set_folder_status(FolderStatus(
        folder_key=target.key, path=str(target.root), work_item_label=target.label,
        last_sync_at=now, files_in_sync=report.in_sync + len(report.uploaded),
        pending=len(report.waiting) + len(report.background), failed=len(report.failed),
        skipped=len(report.skipped), state=folder_state, reason=reason))


def _state_of(report: PassReport) -> tuple[FolderState, str | None]:
    if report.error:
        return "error", report.error
    if report.held:
        return "held", report.held
    if report.failed:
        return "error", f"{len(report.failed)} file(s) failed"
    if report.differences:
        return "error", (f"verify found {len(report.differences)} difference(s): "
                         + "; ".join(f"{p} ({w})" for p, w in report.differences[:3]))
    if report.paused:
        return "waiting", report.paused
    if report.waiting:
        return "waiting", f"{len(report.waiting)} file(s) waiting"
    return "ok", None
