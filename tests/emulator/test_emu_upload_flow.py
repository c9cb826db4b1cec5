"""The three-step upload flow, answered as observed (plane-api-observed.md §1)."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path, create, upload, upload_and_complete


def test_create_answers_the_observed_shape(emulator: Emulator) -> None:
    item = emulator.work_items[0]
    with api(emulator) as client:
        response = create(client, attachments_path(emulator, item["id"]), name="hello.txt",
                          size=34, external_id="sync:hello.txt", external_source="folder-sync")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["upload_data", "asset_id", "attachment", "asset_url"]
    fields = body["upload_data"]["fields"]
    assert list(fields) == ["Content-Type", "key", "x-amz-algorithm", "x-amz-credential",
                            "x-amz-date", "policy", "x-amz-signature"]
    assert body["upload_data"]["url"] == f"{emulator.storage_url}/uploads"
    assert fields["key"].endswith("-hello.txt")
    assert body["asset_id"] == body["attachment"]["id"]
    attachment = body["attachment"]
    assert attachment["size"] == 34.0 and isinstance(attachment["size"], float)
    assert attachment["attributes"] == {"name": "hello.txt", "type": "text/plain", "size": 34}
    assert attachment["is_uploaded"] is False and attachment["storage_metadata"] == {}
    assert attachment["external_id"] == "sync:hello.txt"
    assert body["asset_url"].startswith("/api/assets/v2/workspaces/acme/projects/")
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert policy["conditions"][1] == ["content-length-range", 1, 34]
    assert {"Content-Type": "text/plain"} in policy["conditions"]


def test_full_flow_list_download_delete(emulator: Emulator) -> None:
    item_id = emulator.work_items[0]["id"]
    path = attachments_path(emulator, item_id)
    content = b"hello plane"
    with api(emulator) as client:
        assert client.get(path).json() == []
        created = create(client, path, name="ü n.txt", size=len(content)).json()
        aid = created["asset_id"]
        assert client.get(path).json() == []  # pending rows are hidden
        pending = client.get(f"{path}{aid}/")
        assert pending.status_code == 400
        assert pending.json() == {"error": "The asset is not uploaded.", "status": False}
        stored = upload(created, content)
        assert stored.status_code == 204 and stored.content == b""
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        assert stored.headers["etag"] == f'"{md5}"'
        assert client.get(path).json() == []  # uploaded but not completed
        done = client.patch(f"{path}{aid}/", json={"is_uploaded": True})
        assert done.status_code == 204 and done.content == b""
        assert "content-type" not in done.headers
        listed = client.get(path).json()
        assert [row["id"] for row in listed] == [aid]
        assert listed[0]["is_uploaded"] is True
        assert listed[0]["storage_metadata"]["ETag"] == f'"{md5}"'
        assert listed[0]["storage_metadata"]["ContentLength"] == len(content)
        assert list(listed[0]["storage_metadata"]) == [
            "ETag", "Metadata", "ContentType", "LastModified", "ContentLength"]
        redirect = client.get(f"{path}{aid}/")
        assert redirect.status_code == 302 and redirect.content == b""
        location = redirect.headers["location"]
        assert location.startswith(f"{emulator.storage_url}/uploads/")
        assert "response-content-disposition=attachment%3B%20filename%2A%3DUTF-8%27%27" in location
        downloaded = httpx.get(location)
        assert downloaded.status_code == 200 and downloaded.content == content
        assert downloaded.headers["content-disposition"] == (
            "attachment; filename*=UTF-8''%C3%BC%20n.txt")
        assert downloaded.headers["etag"] == f'"{md5}"'
        assert client.delete(f"{path}{aid}/").status_code == 204
        assert client.get(path).json() == []
        gone = client.get(f"{path}{aid}/")
        assert gone.status_code == 404
        assert gone.json() == {"error": "The requested resource does not exist."}
        assert client.delete(f"{path}{aid}/").status_code == 404
        assert client.patch(f"{path}{aid}/", json={}).status_code == 404
    assert emulator.attachments(item_id) == []
    assert len(emulator.attachments(item_id, include_deleted=True)) == 1


def test_legacy_and_new_routes_share_rows(emulator: Emulator) -> None:
    item_id = emulator.work_items[1]["id"]
    with api(emulator) as client:
        aid = upload_and_complete(client, attachments_path(emulator, item_id, legacy=True), b"x")
        listed = client.get(attachments_path(emulator, item_id)).json()
    assert [row["id"] for row in listed] == [aid]


def test_patch_is_idempotent_and_works_without_upload(emulator: Emulator) -> None:
    item_id = emulator.work_items[0]["id"]
    path = attachments_path(emulator, item_id)
    with api(emulator) as client:
        aid = create(client, path).json()["asset_id"]
        assert client.patch(f"{path}{aid}/", json={}).status_code == 204
        assert client.patch(f"{path}{aid}/").status_code == 204
        listed = client.get(path).json()
    assert listed[0]["is_uploaded"] is True
    assert listed[0]["storage_metadata"] is None  # no object to HEAD


def test_list_is_newest_first_and_emulator_view_matches(emulator: Emulator) -> None:
    item_id = emulator.work_items[0]["id"]
    path = attachments_path(emulator, item_id)
    with api(emulator) as client:
        first = upload_and_complete(client, path, b"one", name="one.txt")
        second = upload_and_complete(client, path, b"two", name="two.txt")
        listed = client.get(path).json()
    assert [row["id"] for row in listed] == [second, first]
    assert emulator.attachments(item_id) == listed
    key = listed[0]["asset"]
    assert emulator.stored_object(key) == b"two"
    assert emulator.stored_object("nope") is None


def test_metadata_delay_leaves_metadata_empty_at_first() -> None:
    with Emulator(rate_limit=None, metadata_delay=30.0) as emu, api(emu) as client:
        path = attachments_path(emu, emu.work_items[0]["id"])
        upload_and_complete(client, path, b"abc")
        assert client.get(path).json()[0]["storage_metadata"] == {}
