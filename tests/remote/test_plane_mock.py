"""Corners a real server cannot easily reach, through httpx.MockTransport handlers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from plane_sync.core.mime import FALLBACK
from plane_sync.core.models import CreateConflict, UploadTicket, WorkItem
from plane_sync.errors import (
    AuthError,
    BadRequest,
    InvalidFileType,
    NotFound,
    PermissionDenied,
    PlaneUnreachable,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)
from plane_sync.remote.answers import parse_attachment
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]
PID = str(uuid.uuid4())
WID = str(uuid.uuid4())
ITEM = WorkItem(id=WID, project_id=PID, identifier="PROJ-1")
TICKET = {"upload_data": {"url": "http://storage.test/uploads",
                          "fields": {"Content-Type": "text/plain", "key": "k"}},
          "asset_id": "a1", "attachment": {"id": "a1"}}


def make_client(handler: Handler, storage: Handler | None = None,
                **kwargs: Any) -> tuple[PlaneClient, list[float]]:
    slept: list[float] = []
    client = PlaneClient(
        "http://plane.test", f"plane_api_{uuid.uuid4().hex}", "acme",
        rate_limit=(1000, 1.0), retry=RetryPolicy(attempts=3, base_delay=0.01),
        transport=httpx.MockTransport(handler),
        storage_transport=httpx.MockTransport(storage or handler),
        sleep=slept.append, **kwargs)
    return client, slept


def reply(status: int, body: Any = None, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def test_invalid_key_is_an_auth_error_that_says_what_to_check() -> None:
    client, _ = make_client(lambda r: reply(403, {"detail": "Given API token is not valid"}))
    with pytest.raises(AuthError) as info:
        client.me()
    assert "rejected the API key" in str(info.value) and "expired" in info.value.message


def test_missing_key_401_says_no_key_was_sent() -> None:
    client, _ = make_client(lambda r: reply(
        401, {"detail": "Authentication credentials were not provided."}))
    with pytest.raises(AuthError, match="No API key was sent"):
        client.me()


def test_empty_key_is_refused_before_any_request() -> None:
    with pytest.raises(AuthError):
        PlaneClient("http://plane.test", "", "acme")


def test_connect_error_retries_then_names_the_url() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("Connection refused", request=request)

    client, slept = make_client(handler)
    with pytest.raises(PlaneUnreachable, match=r"http://plane\.test/api/v1"):
        client.me()
    assert len(calls) == 3 and len(slept) == 2


def test_get_retries_5xx_and_then_succeeds() -> None:
    answers = iter([reply(502), reply(503), reply(200, {"id": "u"})])
    client, slept = make_client(lambda r: next(answers))
    assert client.me() == {"id": "u"}
    assert len(slept) == 2


def test_5xx_after_all_retries_is_a_server_error() -> None:
    client, _ = make_client(lambda r: reply(500, {"error": "boom"}))
    with pytest.raises(ServerError, match="boom"):
        client.me()


def test_post_without_external_ids_is_not_repeated_after_a_5xx() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return reply(500, {"error": "Something went wrong please try again later"})

    client, _ = make_client(handler)
    client._routes = None
    with pytest.raises(ServerError):
        client.create_attachment(ITEM, name="a.txt", mime_type="text/plain", size=3)
    assert calls == ["POST"]


def test_post_timeout_with_external_ids_is_repeated_and_a_409_gives_the_id() -> None:
    calls: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return reply(409, {"error": "Issue with the same external id and external source "
                                    "already exists", "id": "existing-1"})

    client, _ = make_client(handler)
    got = client.create_attachment(ITEM, name="a.txt", mime_type="text/plain", size=3,
                                   external_id="x", external_source="s")
    # Sent twice: the first try may have made it, so the 409 says so.
    assert got == CreateConflict(existing_id="existing-1", after_resend=True)
    assert len(calls) == 2 and calls[0]["size"] == 3 and isinstance(calls[0]["size"], int)


def test_post_timeout_without_external_ids_is_not_repeated() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = make_client(handler)
    with pytest.raises(PlaneUnreachable, match="timed out"):
        client.create_attachment(ITEM, name="a.txt", mime_type="text/plain", size=3)
    assert calls == ["POST"]


def test_429_obeys_retry_after_then_succeeds() -> None:
    answers = iter([reply(429, {"error_code": 5900}, **{"Retry-After": "7"}),
                    reply(200, {"id": "u"})])
    client, _ = make_client(lambda r: next(answers))
    blocked: list[float] = []
    real_block = client.limiter.block_for
    client.limiter.block_for = lambda s: (blocked.append(s), real_block(0.0))[1]  # type: ignore[method-assign]
    assert client.me() == {"id": "u"}
    assert blocked == [7.0]  # every caller of this key waits Retry-After in the limiter


def test_endless_429_becomes_rate_limited() -> None:
    client, _ = make_client(lambda r: reply(429, {"error_code": 5900},
                                            **{"Retry-After": "0"}))
    with pytest.raises(RateLimited, match="Another client"):
        client.me()


def test_unknown_route_falls_back_to_issues_routes_and_remembers() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if "/work-items/" in request.url.path:
            return httpx.Response(404, text="<h1>Not Found</h1>",
                                  headers={"content-type": "text/html"})
        return reply(200, [])

    client, _ = make_client(handler)
    assert client.list_attachments(ITEM) == []
    assert client.list_attachments(ITEM) == []
    assert client.legacy_routes is True
    assert [p.split(f"{WID}/")[1] for p in paths] == ["attachments/", "issue-attachments/",
                                                     "issue-attachments/"]


def test_a_server_with_neither_route_family_is_reported() -> None:
    client, _ = make_client(lambda r: httpx.Response(404, text="Not Found"))
    with pytest.raises(UnexpectedResponse, match="neither"):
        client.list_attachments(ITEM)


def test_json_404_keeps_the_new_routes() -> None:
    client, _ = make_client(lambda r: reply(404, {"error": "The requested resource does "
                                                           "not exist."}))
    with pytest.raises(NotFound, match="PROJ-9"):
        client.resolve_identifier("PROJ-9")
    assert client.legacy_routes is False


@pytest.mark.parametrize("bad", ["PROJ-x", "PROJ", "-1", "TOOLONGPROJECT1-1", "PROJ-0",
                                 "PR J-1", "PROJ-1-2"])
def test_malformed_identifiers_never_reach_the_server(bad: str) -> None:
    calls: list[str] = []
    client, _ = make_client(lambda r: calls.append("x") or reply(500))
    with pytest.raises(BadRequest, match="not a work item identifier"):
        client.resolve_identifier(bad)
    assert calls == []


def test_identifier_is_upper_cased() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return reply(200, {"id": WID, "project": PID, "name": "n", "sequence_id": 12})

    client, _ = make_client(handler)
    item = client.resolve_identifier(" proj-012 ")
    assert paths == ["/api/v1/workspaces/acme/work-items/PROJ-12/"]
    assert item == WorkItem(id=WID, project_id=PID, name="n", identifier="PROJ-12",
                            sequence_id=12)


def test_unknown_project_403_is_explained() -> None:
    client, _ = make_client(lambda r: reply(
        403, {"detail": "You do not have permission to perform this action."}))
    with pytest.raises(PermissionDenied, match="does not exist in workspace acme"):
        client.resolve_identifier("NOPE-1")


def test_create_retries_once_with_the_fallback_type() -> None:
    types: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        types.append(body["type"])
        if body["type"] != FALLBACK:
            return reply(400, {"error": "Invalid file type.", "status": False})
        return reply(200, TICKET)

    client, _ = make_client(handler)
    ticket = client.create_attachment(ITEM, name="a.md", mime_type="text/markdown", size=3)
    assert isinstance(ticket, UploadTicket) and ticket.attachment_id == "a1"
    assert types == ["text/markdown", FALLBACK]


def test_fallback_type_refused_is_invalid_file_type() -> None:
    client, _ = make_client(lambda r: reply(400, {"error": "Invalid file type.",
                                                  "status": False}))
    with pytest.raises(InvalidFileType):
        client.create_attachment(ITEM, name="a.bin", mime_type=FALLBACK, size=3)


def test_null_upload_data_is_unexpected() -> None:
    client, _ = make_client(lambda r: reply(200, {"upload_data": None, "asset_id": "a1"}))
    with pytest.raises(UnexpectedResponse, match="storage settings"):
        client.create_attachment(ITEM, name="a.txt", mime_type="text/plain", size=3)


def test_redirects_are_never_followed() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(str(request.url))
        return httpx.Response(301, headers={"Location": "http://evil.test/steal"})

    client, _ = make_client(handler)
    with pytest.raises(UnexpectedResponse):
        client.me()
    assert paths == ["http://plane.test/api/v1/users/me/"]


def test_download_fetches_location_without_plane_headers() -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/uploads/k?sig=1"})

    def storage(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"hello")

    client, _ = make_client(api, storage)
    import io
    buf = io.BytesIO()
    assert client.download(ITEM, "a1", buf) == 5 and buf.getvalue() == b"hello"
    assert str(seen[0].url) == "http://plane.test/uploads/k?sig=1"
    assert "x-api-key" not in {k.lower() for k in seen[0].headers}


def test_storage_error_on_download_is_reported() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://s.test/uploads/k"})

    def storage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code>"
                                           b"<Message>Request has expired</Message></Error>")

    client, _ = make_client(api, storage)
    import io
    with pytest.raises(UnexpectedResponse, match="AccessDenied"):
        client.download(ITEM, "a1", io.BytesIO())


def test_size_limit_falls_back_to_5_mib() -> None:
    client, _ = make_client(lambda r: httpx.Response(404, text="nope"))
    assert client.file_size_limit() == 5 * 1024 * 1024
    client2, _ = make_client(lambda r: reply(200, {"config": {"file_size_limit": 1024.0}}))
    assert client2.file_size_limit() == 1024


def test_project_list_follows_next_page_results() -> None:
    queries: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = dict(request.url.params)
        queries.append(q)
        if "cursor" not in q:
            return reply(200, {"results": [{"id": "p1", "identifier": "A", "name": "a"}],
                               "next_cursor": "1000:1:0", "next_page_results": True})
        return reply(200, {"results": [{"id": "p2", "identifier": "B", "name": "b"}],
                           "next_cursor": "1000:2:0", "next_page_results": False})

    client, _ = make_client(handler)
    assert [p.identifier for p in client.list_projects()] == ["A", "B"]
    assert queries == [{"per_page": "1000"}, {"per_page": "1000", "cursor": "1000:1:0"}]


@pytest.mark.parametrize("meta", [{}, None, {"ETag": '""'}])
def test_attachment_without_storage_metadata_parses(meta: Any) -> None:
    got = parse_attachment({"id": "a", "attributes": {"name": "n", "type": "text/plain",
                                                      "size": 34}, "size": 34.0,
                            "storage_metadata": meta})
    assert (got.size, got.etag_md5, got.content_length) == (34, None, None)


def test_attachment_storage_metadata_parses() -> None:
    got = parse_attachment({"id": "a", "attributes": {"name": "n", "type": "text/plain",
                                                      "size": 34},
                            "external_id": "e", "external_source": "s",
                            "storage_metadata": {"ETag": '"abc"', "ContentLength": 40}})
    assert (got.etag_md5, got.content_length, got.external_id) == ("abc", 40, "e")


def test_bad_uuids_are_refused_locally() -> None:
    calls: list[str] = []
    client, _ = make_client(lambda r: calls.append("x") or reply(500))
    with pytest.raises(NotFound, match="not a UUID"):
        client.get_work_item("nope", WID)
    assert calls == []
