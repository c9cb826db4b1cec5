"""PlaneClient over loopback HTTP against the Plane emulator: every call, every error path."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from plane_sync.core.models import CreateConflict, UploadTicket, WorkItem
from plane_sync.emulator import Emulator
from plane_sync.errors import (
    AuthError,
    BadRequest,
    NotFound,
    PermissionDenied,
    PlaneUnreachable,
    ServerError,
)
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy

Factory = Callable[..., Emulator]


def client_for(emu: Emulator, *, api_key: str | None = None, **kwargs: Any) -> PlaneClient:
    kwargs.setdefault("rate_limit", (1000, 1.0))
    kwargs.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
    return PlaneClient(emu.url, api_key or emu.api_key, emu.workspace, **kwargs)


def logged(emu: Emulator, count: int) -> list[Any]:
    """The request log once it holds ``count`` records (it is written after each reply)."""
    deadline = time.monotonic() + 10
    while len(emu.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return emu.requests()


def first_item(client: PlaneClient) -> WorkItem:
    return client.resolve_identifier("PROJ-1")


def test_me_and_projects(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        assert "id" in client.me()
        projects = client.list_projects()
    assert [(p.id, p.identifier) for p in projects] == [(emulator.project_id, "PROJ")]


def test_projects_across_pages(emulator: Emulator) -> None:
    for n in range(3):
        emulator.add_project(f"P{n}", f"Project {n}")
    with client_for(emulator) as client:
        assert len(client.list_projects()) == 4


def test_resolve_identifier_lower_case_and_leading_zeros(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        item = client.resolve_identifier("proj-02")
    expected = next(w for w in emulator.work_items if w["identifier"] == "PROJ-2")
    assert (item.id, item.project_id, item.identifier) == (expected["id"], emulator.project_id,
                                                           "PROJ-2")


def test_resolve_unknown_sequence_and_project(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        with pytest.raises(NotFound, match="PROJ-999"):
            client.resolve_identifier("PROJ-999")
        with pytest.raises(PermissionDenied, match="NOPE"):
            client.resolve_identifier("NOPE-1")


def test_malformed_identifier_sends_nothing(emulator: Emulator) -> None:
    with client_for(emulator) as client, pytest.raises(BadRequest):
        client.resolve_identifier("PROJ-x")
    assert emulator.requests() == []


@pytest.mark.parametrize("kind", ["triage", "draft", "archived"])
def test_get_work_item_reaches_hidden_items(emulator: Emulator, kind: str) -> None:
    hidden = emulator.add_work_item(emulator.project_id, f"{kind} item", state=kind)
    with client_for(emulator) as client:
        item = client.get_work_item(emulator.project_id, hidden["id"])
        assert item.id == hidden["id"]
        # ...and it takes attachments.
        ticket = client.create_attachment(item, name="a.txt", mime_type="text/plain", size=3)
        assert isinstance(ticket, UploadTicket)
    assert emulator.attachments(hidden["id"], include_pending=True)


def test_get_work_item_normal_and_missing(emulator: Emulator) -> None:
    wanted = emulator.work_items[0]
    with client_for(emulator) as client:
        item = client.get_work_item(emulator.project_id, wanted["id"])
        assert (item.id, item.name) == (wanted["id"], wanted["name"])
        with pytest.raises(NotFound):
            client.get_work_item(emulator.project_id, str(uuid.uuid4()))
    assert emulator.attachments(wanted["id"], include_pending=True, include_deleted=True) == []


def test_create_list_complete_download_delete(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        item = first_item(client)
        ticket = client.create_attachment(item, name="hello.txt", mime_type="text/plain",
                                          size=5, external_id="e1", external_source="t")
        assert isinstance(ticket, UploadTicket)
        assert client.list_attachments(item) == []  # pending is hidden
        resp = client.storage_client.post(
            ticket.url, data=dict(ticket.fields),
            files={"file": ("hello.txt", b"hello", "text/plain")})
        assert resp.status_code == 204
        client.complete_attachment(item, ticket.attachment_id)
        client.complete_attachment(item, ticket.attachment_id)  # idempotent
        [listed] = client.list_attachments(item)
        assert (listed.id, listed.name, listed.size, listed.mime_type) == (
            ticket.attachment_id, "hello.txt", 5, "text/plain")
        assert (listed.external_id, listed.external_source) == ("e1", "t")
        buf = io.BytesIO()
        assert client.download(item, listed.id, buf) == 5 and buf.getvalue() == b"hello"
        conflict = client.create_attachment(item, name="hello.txt", mime_type="text/plain",
                                            size=5, external_id="e1", external_source="t")
        assert conflict == CreateConflict(existing_id=ticket.attachment_id)
        assert client.delete_attachment(item, listed.id) is True
        assert client.delete_attachment(item, listed.id) is False  # already gone
        assert client.list_attachments(item) == []
    storage_calls = [r for r in emulator.requests() if r.server == "storage"]
    assert storage_calls and all("x-api-key" not in r.headers for r in storage_calls)


def test_download_of_pending_attachment_is_refused(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        item = first_item(client)
        ticket = client.create_attachment(item, name="a.txt", mime_type="text/plain", size=3)
        assert isinstance(ticket, UploadTicket)
        with pytest.raises(BadRequest, match="not uploaded"):
            client.download(item, ticket.attachment_id, io.BytesIO())
        with pytest.raises(NotFound):
            client.download(item, str(uuid.uuid4()), io.BytesIO())


def test_complete_of_missing_attachment_is_not_found(emulator: Emulator) -> None:
    with client_for(emulator) as client:
        item = first_item(client)
        with pytest.raises(NotFound, match="complete attachment"):
            client.complete_attachment(item, str(uuid.uuid4()))


def test_legacy_server_uses_issues_routes(emulator_factory: Factory) -> None:
    emu = emulator_factory(rate_limit=None, legacy_routes=True)
    with client_for(emu) as client:
        item = first_item(client)
        assert client.legacy_routes is True
        ticket = client.create_attachment(item, name="a.txt", mime_type="text/plain", size=3)
        assert isinstance(ticket, UploadTicket)
        assert client.list_attachments(item) == []
    paths = [r.path for r in emu.requests() if r.server == "api"]
    assert any("/work-items/" in p for p in paths)  # tried once...
    assert sum("/work-items/" in p for p in paths) == 1  # ...then remembered
    assert any("/issue-attachments/" in p for p in paths)


def test_wrong_key_and_no_key(emulator: Emulator) -> None:
    wrong = "plane_api_" + "0" * 32
    with client_for(emulator, api_key=wrong) as client, pytest.raises(AuthError) as info:
        client.me()
    assert "rejected the API key" in str(info.value) and wrong not in str(info.value)


def test_unreachable_names_the_url() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PlaneClient(f"http://127.0.0.1:{port}", "plane_api_" + uuid.uuid4().hex, "acme",
                         retry=RetryPolicy(attempts=2, base_delay=0.01))
    with client, pytest.raises(PlaneUnreachable, match=f"127.0.0.1:{port}"):
        client.me()


def test_file_size_limit_from_instance(emulator_factory: Factory) -> None:
    emu = emulator_factory(rate_limit=None, file_size_limit=1234567)
    with client_for(emu) as client:
        assert client.file_size_limit() == 1234567


def test_server_errors_are_retried(emulator: Emulator) -> None:
    emulator.faults.set(error_rate=0.5, seed=3, only=["GET"])
    with client_for(emulator, retry=RetryPolicy(attempts=8, base_delay=0.01)) as client:
        item = first_item(client)
        for _ in range(5):
            assert client.list_attachments(item) == []
    assert any(r.status == 500 for r in emulator.requests())


def test_persistent_server_errors_surface(emulator: Emulator) -> None:
    emulator.faults.set(error_rate=1.0)
    with client_for(emulator) as client, pytest.raises(ServerError):
        client.me()


def test_dropped_connections_are_retried_for_get(emulator: Emulator) -> None:
    emulator.faults.set(drop_rate=0.5, seed=5, only=["GET"])
    with client_for(emulator, retry=RetryPolicy(attempts=8, base_delay=0.01)) as client:
        for _ in range(4):
            client.me()


def test_429_storm_is_waited_out(emulator_factory: Factory) -> None:
    emu = emulator_factory(rate_limit=(1000, 60.0))
    emu.faults.set(storm_429=3)
    with client_for(emu, rate_limit=(1000, 60.0)) as client:
        assert "id" in client.me()
    statuses = [r.status for r in logged(emu, 4)]
    assert statuses == [429, 429, 429, 200]


def test_create_post_is_not_repeated_without_external_ids(emulator: Emulator) -> None:
    emulator.faults.set(error_rate=1.0, only=["POST"])
    with client_for(emulator) as client:
        item = first_item(client)
        with pytest.raises(ServerError):
            client.create_attachment(item, name="a.txt", mime_type="text/plain", size=3)
    assert [r.method for r in logged(emulator, 2)].count("POST") == 1


def test_get_work_item_without_probe_sends_no_post(emulator: Emulator) -> None:
    # Dry runs: a hidden item is taken on trust rather than confirmed with a POST.
    hidden = emulator.add_work_item(emulator.project_id, "draft item", state="draft")
    emulator.clear_requests()
    with client_for(emulator) as client:
        item = client.get_work_item(emulator.project_id, hidden["id"], probe_hidden=False)
    assert item.id == hidden["id"]
    assert [r.method for r in emulator.requests() if r.server == "api"] == ["GET"]
