"""Our crashed creates for file versions that no longer exist are swept, not left pending."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from plane_sync.core.identity import external_id_for
from plane_sync.core.models import UploadTicket
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.engine import Engine
from plane_sync.sync.state import StateDB
from tests.sync.conftest import folder_target

LIMIT = 5 * 1024 * 1024


@pytest.mark.parametrize("reached_plane", [True, False])
def test_orphan_of_a_deleted_file_is_swept(emulator: Emulator, client: PlaneClient,
                                           tmp_path: Path, reached_plane: bool) -> None:
    root = tmp_path / "folder"
    root.mkdir()
    (root / "kept.txt").write_text("kept")
    target = folder_target(root, emulator)
    gone_id = external_id_for("gone.txt", hashlib.sha256(b"old").hexdigest())
    with StateDB(tmp_path / "state.db") as state:
        # An earlier process wrote its intent, sent the create and died before the answer.
        state.intent_add("f", target.work_item.id, gone_id, "gone.txt", 1.0)
        if reached_plane:
            ticket = client.create_attachment(target.work_item, name="gone.txt",
                                              mime_type="text/plain", size=3,
                                              external_id=gone_id,
                                              external_source="plane-sync")
            assert isinstance(ticket, UploadTicket)
        report = Engine(client, state, size_limit=LIMIT,
                        external_source="plane-sync").sync_target(target)
        assert state.intents() == []
    assert report.uploaded == [("kept.txt", 4)]
    rows = emulator.attachments(target.work_item.id, include_pending=True)
    assert [r["attributes"]["name"] for r in rows] == ["kept.txt"]  # nothing pending left


def test_orphan_of_a_file_still_there_is_left_to_its_upload(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    # The normal path handles it: the upload meets the 409 and takes over its own orphan.
    root = tmp_path / "folder"
    root.mkdir()
    (root / "a.txt").write_text("same")
    target = folder_target(root, emulator)
    ext = external_id_for("a.txt", hashlib.sha256(b"same").hexdigest())
    with StateDB(tmp_path / "state.db") as state:
        state.intent_add("f", target.work_item.id, ext, "a.txt", 1.0)
        client.create_attachment(target.work_item, name="a.txt", mime_type="text/plain",
                                 size=4, external_id=ext, external_source="plane-sync")
        emulator.clear_requests()
        Engine(client, state, size_limit=LIMIT, external_source="plane-sync").sync_target(target)
    posts = [r for r in emulator.requests() if r.method == "POST" and r.server == "api"]
    assert len(posts) == 2  # the 409, then the upload after deleting the orphan: no probe
    rows = emulator.attachments(target.work_item.id, include_pending=True)
    assert [(r["attributes"]["name"], r["is_uploaded"]) for r in rows] == [("a.txt", True)]
