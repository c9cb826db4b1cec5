"""The daemon spends the API budget where it matters: an idle daemon with 300 mapped work
items lists them within its re-check share of the (learned) rate limit, counted from the
emulator's request log; an attachment deleted by hand in Plane is still noticed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator

from .conftest import DaemonFactory, attached_names, folder_entry, wait_until

pytestmark = pytest.mark.timeout(300)
ITEMS = 300
SERVER_LIMIT = (600, 6.0)  # 100 requests a second: the start-up takes seconds, not minutes
SHARE = 0.10


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    items, limit = getattr(request, "param", (ITEMS, SERVER_LIMIT))
    with Emulator(work_items=items, rate_limit=limit) as emulator:
        yield emulator


def api_requests(emu: Emulator, since: float) -> list[Any]:
    return [r for r in emu.requests() if r.server == "api" and r.time >= since]


def test_an_idle_daemon_with_300_work_items_stays_within_its_recheck_share(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    share = tmp_path / "share"
    for n in range(1, ITEMS + 1):
        sub = share / f"PROJ-{n} item"
        sub.mkdir(parents=True)
        if n % 10 == 0:
            (sub / "notes.txt").write_text(f"work item {n}\n")
    folders = [{"path": str(share), "work_items": "subfolders"}]
    daemon = daemon_factory(folders, rescan_interval="3s")
    config = daemon_factory.config(folders, rescan_interval="3s")
    config["plane"]["rate_limit"] = None  # the server's own limit, learned
    config["plane"]["recheck_share"] = f"{SHARE:.0%}"
    daemon.write_config(config)
    daemon.start("--log-level", "debug")
    daemon.wait_event("daemon.initial_sync_done", timeout=180)
    assert sum(len(emu.attachments(item["id"])) for item in emu.work_items) == ITEMS // 10
    # Idle: rescans every 3 s find nothing changed; the re-checks list what is oldest.
    start = time.time()
    time.sleep(15)
    idle = api_requests(emu, start)
    elapsed = time.time() - start
    daemon.assert_running()
    allowed = SHARE * SERVER_LIMIT[0] / SERVER_LIMIT[1] * elapsed + 1  # the bucket's token
    lists = [r for r in idle if r.method == "GET" and r.path.endswith("/attachments/")]
    assert len(idle) <= allowed, (
        f"{len(idle)} requests in {elapsed:.1f} s idle, the share allows {allowed:.0f} "
        f"(every rescan used to list all {ITEMS}, and look each work item up again)")
    assert lists == idle  # nothing but re-checks: work items are not looked up again
    assert lists, "no re-check at all"
    assert not [e for e in daemon.events() if e.get("event") == "ratelimit.retry_after"]
    learned = daemon.events("ratelimit.learned")
    assert learned and learned[-1]["requests"] == SERVER_LIMIT[0]
    assert daemon.stop() == 0


@pytest.mark.parametrize("emu", [(3, None)], indirect=True)
def test_an_attachment_deleted_by_hand_is_noticed_and_uploaded_again(
        emu: Emulator, daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    item = emu.work_items[0]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "plan.txt").write_text("the plan\n")
    daemon = daemon_factory([folder_entry(folder, item["identifier"])], rescan_interval="2s")
    daemon.start()
    daemon.wait_event("daemon.initial_sync_done", timeout=60)
    [row] = emu.attachments(item["id"])
    url = (f"{emu.url}/api/v1/workspaces/{emu.workspace}/projects/{emu.project_id}/"
           f"work-items/{item['id']}/attachments/{row['id']}/")
    assert httpx.delete(url, headers={"X-API-Key": emu.api_key}).status_code == 204
    assert attached_names(emu, item["id"]) == []
    wait_until(lambda: attached_names(emu, item["id"]) == ["plan.txt"], 60,
               "plan.txt uploaded again after a re-check")
    assert len(daemon.uploads()) == 2
    assert daemon.stop() == 0
