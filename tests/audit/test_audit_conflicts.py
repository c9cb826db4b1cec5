"""Issue 3, "State": a 409 on create whose attachment is pending and not ours (another machine)
is left alone and looked at again later; once it has stayed pending longer than a live upload
of its size would take (:func:`plane_sync.sync.pending.takeover_after`: minutes, at most the
presign expiry of one hour) it is deleted and the file uploaded. If it completes meanwhile,
nothing is uploaded.

The engine runs in-process against the emulator with an injected clock, so the wait costs
nothing. "Another machine" is a second client creating (and maybe completing) the attachment
under the external id plane-sync would use for the same file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plane_sync.config.load import parse_config
from plane_sync.core.identity import attachment_name_for, external_id_for
from plane_sync.core.models import UploadTicket
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.sync.engine import Engine
from plane_sync.sync.pending import takeover_after
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target

SOURCE = "plane-sync"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(emulator: Emulator) -> Iterator[PlaneClient]:
    with PlaneClient(emulator.url, emulator.api_key, emulator.workspace,
                     rate_limit=(10_000, 1.0),
                     retry=RetryPolicy(attempts=2, base_delay=0.0)) as c:
        yield c


def make_target(emulator: Emulator, client: PlaneClient, folder: Path) -> Target:
    text = (f'plane: {{url: "{emulator.url}", api_key: "k", workspace: acme}}\n'
            f'folders: [{{path: "{folder}", work_item: PROJ-1}}]\n')
    config = parse_config(text, env={})
    (spec,) = config.folders
    return Target(folder=spec, key=spec.key, root=spec.path,
                  work_item=client.resolve_identifier("PROJ-1"))


def other_machine_creates(client: PlaneClient, target: Target, rel_path: str,
                          data: bytes) -> str:
    """What a second machine's plane-sync does right before its storage step."""
    ticket = client.create_attachment(
        target.work_item, name=attachment_name_for(rel_path), mime_type="text/plain",
        size=len(data), external_id=external_id_for(rel_path, hashlib.sha256(data).hexdigest()),
        external_source=SOURCE)
    assert isinstance(ticket, UploadTicket)
    return ticket.attachment_id


def rows(emulator: Emulator, target: Target) -> list[dict[str, Any]]:
    return emulator.attachments(target.work_item.id, include_pending=True,
                                include_deleted=True)


def test_pending_upload_of_another_machine_is_left_then_taken_over_once_overdue(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    data = b"the same file on a shared drive\n"
    (folder / "shared.txt").write_bytes(data)
    target = make_target(emulator, client, folder)
    theirs = other_machine_creates(client, target, "shared.txt", data)

    clock = Clock()
    state = StateDB(tmp_path / "state.db")
    engine = Engine(client, state, size_limit=5 * 2**20, external_source=SOURCE, clock=clock)

    # First sight: not listed (pending), not ours -> wait, touch nothing.
    report = engine.sync_target(target)
    assert report.uploaded == [] and report.failed == []
    assert [p for p, _ in report.waiting] == ["shared.txt"]
    (row,) = rows(emulator, target)
    assert row["id"] == theirs and row["deleted_at"] is None

    # Later, but a second before a live upload of this size is overdue: still theirs.
    overdue = takeover_after(len(data))
    assert overdue < 3600  # minutes, not the presign expiry's hour
    clock.now = T0 + overdue - 1
    report = engine.sync_target(target)
    assert [p for p, _ in report.waiting] == ["shared.txt"] and report.uploaded == []
    (row,) = rows(emulator, target)
    assert row["deleted_at"] is None

    # Overdue: delete it and upload ours.
    clock.now = T0 + overdue
    report = engine.sync_target(target)
    assert [p for p, _ in report.uploaded] == ["shared.txt"]
    by_id = {r["id"]: r for r in rows(emulator, target)}
    assert by_id[theirs]["deleted_at"] is not None
    live = [r for r in by_id.values() if r["deleted_at"] is None]
    assert len(live) == 1 and live[0]["is_uploaded"] and live[0]["id"] != theirs
    assert emulator.stored_object(live[0]["asset"]) == data
    assert state.pending(target.key) == []
    state.close()


def test_pending_upload_of_another_machine_that_completes_is_not_uploaded_again(
        emulator: Emulator, client: PlaneClient, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    data = b"finished by the other machine\n"
    (folder / "done.txt").write_bytes(data)
    target = make_target(emulator, client, folder)
    theirs = other_machine_creates(client, target, "done.txt", data)

    clock = Clock()
    state = StateDB(tmp_path / "state.db")
    engine = Engine(client, state, size_limit=5 * 2**20, external_source=SOURCE, clock=clock)
    report = engine.sync_target(target)
    assert [p for p, _ in report.waiting] == ["done.txt"]
    assert len(state.pending(target.key)) == 1

    client.complete_attachment(target.work_item, theirs)  # the other machine finishes
    clock.now = T0 + 7200  # long past the expiry: it is listed now, so it is simply done
    emulator.clear_requests()
    report = engine.sync_target(target)
    assert report.uploaded == [] and report.waiting == [] and report.in_sync == 1
    assert [r.method for r in emulator.requests() if r.server == "api"] == ["GET"]
    (row,) = rows(emulator, target)
    assert row["id"] == theirs and row["deleted_at"] is None
    assert state.pending(target.key) == []
    state.close()
