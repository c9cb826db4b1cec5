"""POST create: validation table (observed §3), duplicates (§2), size clamp (§4), scope (§5)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator, sanitize_filename
from tests.emulator.emu_helpers import api, attachments_path, create, upload_and_complete

INVALID_REQUEST = {"error": "Invalid request.", "status": False}
INVALID_TYPE = {"error": "Invalid file type.", "status": False}
SERVER_ERROR = {"error": "Something went wrong please try again later"}


def _policy(body: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(body["upload_data"]["fields"]["policy"]))
    return policy


@pytest.mark.parametrize(
    ("payload", "status", "answer"),
    [
        ({"type": "text/plain", "size": 3}, 400, INVALID_REQUEST),
        ({"name": "a.txt", "type": "text/plain"}, 400, INVALID_REQUEST),
        ({"name": "a.txt", "type": "text/plain", "size": 0}, 400, INVALID_REQUEST),
        ({"name": "..", "type": "text/plain", "size": 3}, 400, INVALID_REQUEST),
        ({"name": "a.exe", "type": "application/x-msdownload", "size": 3}, 400, INVALID_TYPE),
        ({"name": "a.txt", "size": 3}, 400, INVALID_TYPE),
        ({"name": "a.txt", "type": "text/plain; charset=utf-8", "size": 3}, 400, INVALID_TYPE),
        ({"name": "a.txt", "type": "text/plain", "size": "3"}, 500, SERVER_ERROR),
        # name and size are checked before type, so a bad type with no size is "Invalid request."
        ({"name": "a.exe", "type": "application/x-msdownload"}, 400, INVALID_REQUEST),
    ],
)
def test_validation_table(
    emulator: Emulator, payload: dict[str, Any], status: int, answer: dict[str, Any]
) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        response = client.post(path, json=payload)
    assert (response.status_code, response.json()) == (status, answer)
    assert emulator.attachments(emulator.work_items[0]["id"], include_pending=True) == []


def test_multipart_form_body_is_a_500(emulator: Emulator) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        response = client.post(
            path, files={"name": (None, "form.txt"), "type": (None, "text/plain"),
                         "size": (None, "3")})
    assert (response.status_code, response.json()) == (500, SERVER_ERROR)


@pytest.mark.parametrize(("size", "expected"), [(3.5, 3.5), (-5, -5)])
def test_odd_numeric_sizes_are_accepted(emulator: Emulator, size: float, expected: float) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        body = create(client, path, size=size).json()  # type: ignore[arg-type]
    assert body["attachment"]["size"] == float(expected)
    assert _policy(body)["conditions"][1] == ["content-length-range", 1, expected]


@pytest.mark.parametrize("mime_type", ["image/jpeg", "application/octet-stream", "text/markdown"])
def test_allowed_types(emulator: Emulator, mime_type: str) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        assert create(client, path, mime_type=mime_type).status_code == 200


def test_name_is_sanitised(emulator: Emulator) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        body = create(client, path, name="../sub dir/ü n.txt").json()
    assert body["attachment"]["attributes"]["name"] == "ü n.txt"
    assert body["upload_data"]["fields"]["key"].endswith("-ü n.txt")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a/b/c.txt", "c.txt"), ("a\\b\\c.txt", "c.txt"), (".env", "env"), ("  x.txt ", "x.txt"),
        ("a\x00b.txt", "ab.txt"), ("..x..txt", "xtxt"), ("...", None), ("", None), (None, None),
        ("dir/", None),
    ],
)
def test_sanitize_filename(raw: str | None, clean: str | None) -> None:
    assert sanitize_filename(raw) == clean


def test_unknown_issue_is_404(emulator: Emulator) -> None:
    path = attachments_path(emulator, str(uuid.uuid4()))
    with api(emulator) as client:
        response = create(client, path)
        listed = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "The requested resource does not exist."}
    assert (listed.status_code, listed.json()) == (200, [])


def test_list_for_unknown_workspace_is_empty(emulator: Emulator) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"]).replace("/acme/", "/nope/")
    with api(emulator) as client:
        response = client.get(path)
    assert (response.status_code, response.json()) == (200, [])


def test_size_is_clamped_to_the_limit(emulator: Emulator) -> None:
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        body = create(client, path, size=6 * 1024 * 1024).json()
        exact = create(client, path, size=5 * 1024 * 1024)
    assert body["attachment"]["attributes"]["size"] == 5242880
    assert body["attachment"]["size"] == 5242880.0
    assert _policy(body)["conditions"][1] == ["content-length-range", 1, 5242880]
    assert exact.status_code == 200


def test_instances_reports_the_limit(emulator_factory: Any) -> None:
    emu = emulator_factory(file_size_limit=1000)
    response = httpx.get(f"{emu.url}/api/instances/")  # no key needed
    assert response.status_code == 200
    assert response.json()["config"]["file_size_limit"] == 1000.0


class TestDuplicates:
    def test_same_external_pair_is_409_with_existing_id(self, emulator: Emulator) -> None:
        item_id = emulator.work_items[0]["id"]
        path = attachments_path(emulator, item_id)
        pair = {"external_id": "sync:a", "external_source": "folder-sync"}
        with api(emulator) as client:
            pending = create(client, path, **pair).json()["asset_id"]
            again = create(client, path, **pair)
            assert again.status_code == 409
            assert again.json() == {
                "error": "Issue with the same external id and external source already exists",
                "id": pending,
            }
            client.patch(f"{path}{pending}/")
            assert create(client, path, **pair).status_code == 409  # uploaded rows block too
            assert create(client, path, external_id="sync:a", external_source="other"
                          ).status_code == 200
            assert create(client, path, external_id="sync:a").status_code == 200
            assert client.delete(f"{path}{pending}/").status_code == 204
            assert create(client, path, **pair).status_code == 200  # deleted rows do not
        assert len(emulator.attachments(item_id, include_pending=True)) == 3

    def test_scope_is_per_work_item(self, emulator: Emulator) -> None:
        pair = {"external_id": "sync:a", "external_source": "folder-sync"}
        with api(emulator) as client:
            for item in emulator.work_items[:2]:
                assert create(client, attachments_path(emulator, item["id"]), **pair
                              ).status_code == 200


def test_detail_routes_go_by_attachment_id(emulator: Emulator) -> None:
    first, second = (item["id"] for item in emulator.work_items[:2])
    with api(emulator) as client:
        aid = upload_and_complete(client, attachments_path(emulator, first), b"data")
        other = attachments_path(emulator, second)
        assert client.get(f"{other}{aid}/").status_code == 302
        assert client.patch(f"{other}{aid}/").status_code == 204
        assert client.delete(f"{other}{aid}/").status_code == 204
    assert emulator.attachments(first) == []


def test_attachments_work_on_hidden_work_items(emulator: Emulator) -> None:
    triage = emulator.add_work_item(emulator.project_id, "Intake", state="triage")
    with api(emulator) as client:
        aid = upload_and_complete(client, attachments_path(emulator, triage["id"]), b"x")
    assert [row["id"] for row in emulator.attachments(triage["id"])] == [aid]
