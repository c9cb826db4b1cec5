"""Passes of one target are bounded per minute, and a loop of passes that change nothing is
noticed once, slowed down, and its end said once."""

from __future__ import annotations

from structlog.testing import capture_logs

from plane_sync.service.passes import PassGovernor
from plane_sync.sync.outcome import PassReport


def _report(fingerprint: int = 1, *, uploaded: int = 0) -> PassReport:
    report = PassReport("t", "PROJ-1", "/share", fingerprint=fingerprint)
    report.uploaded = [(f"f{i}", 1) for i in range(uploaded)]
    return report


def test_passes_are_bounded_per_minute_and_the_bound_is_said_once() -> None:
    gov = PassGovernor(per_minute=3)
    with capture_logs() as logs:
        starts = []
        now = 0.0
        for _ in range(5):
            now = gov.next_allowed("t", now)
            starts.append(now)
            gov.record("t", now, _report(fingerprint=int(now) + 1), rescan_interval=600)
        assert starts == [0.0, 0.0, 0.0, 60.0, 60.0]
        assert gov.next_allowed("t", 200.0) == 200.0
    events = [e["event"] for e in logs]
    assert events.count("sync.passes_limited") == 1
    assert events.count("sync.passes_unlimited") == 1


def test_a_loop_of_passes_that_change_nothing_is_logged_once_and_slowed() -> None:
    gov = PassGovernor(per_minute=1000, loop_after=4, loop_window=30, loop_gap=60)
    with capture_logs() as logs:
        now = 0.0
        for _ in range(10):  # a pass every 2.2 s, the listing never changes
            gov.note_trigger("t", "changes", claims_change=True)
            now = max(gov.next_allowed("t", now), now)
            gov.record("t", now, _report(), rescan_interval=600)
            now += 2.2
        detected = [e for e in logs if e["event"] == "sync.loop_detected"]
        assert len(detected) == 1 and detected[0]["triggers"] == ["changes"]
        # From then on at most one pass per minute.
        assert gov.next_allowed("t", now) >= now + 50
        # A pass that uploads something ends it, said once.
        gov.note_trigger("t", "changes", claims_change=True)
        gov.record("t", gov.next_allowed("t", now), _report(uploaded=1), rescan_interval=600)
        assert gov.next_allowed("t", now + 61) == now + 61
    assert [e["event"] for e in logs].count("sync.loop_ended") == 1


def test_rescans_of_an_idle_folder_are_no_loop() -> None:
    gov = PassGovernor(loop_after=3)
    with capture_logs() as logs:
        for i in range(10):  # rescan_interval 20 s: idle passes 20 s apart are asked for
            gov.note_trigger("t", "changes", claims_change=True)
            gov.record("t", i * 20.0, _report(), rescan_interval=20)
    assert not [e for e in logs if e["event"] == "sync.loop_detected"]


def test_passes_for_a_share_that_keeps_coming_back_are_no_loop() -> None:
    """Unmounted and mounted again every few seconds: each "folder is back" asks for a pass
    that finds nothing changed. Real events, not a loop."""
    gov = PassGovernor(per_minute=1000, loop_after=3)
    with capture_logs() as logs:
        for i in range(10):
            gov.note_trigger("t", "folder is back", claims_change=False)
            gov.record("t", i * 3.0, _report(), rescan_interval=600)
    assert not [e for e in logs if e["event"] == "sync.loop_detected"]


def test_files_that_keep_changing_are_no_loop() -> None:
    gov = PassGovernor(per_minute=1000, loop_after=3)
    with capture_logs() as logs:
        for i in range(10):
            gov.note_trigger("t", "changes", claims_change=True)
            gov.record("t", i * 2.0, _report(fingerprint=i), rescan_interval=600)
    assert not [e for e in logs if e["event"] == "sync.loop_detected"]
