"""Small helpers shared by the emulator tests."""

from __future__ import annotations

from typing import Any

import httpx

from plane_sync.emulator import Emulator


def api(emu: Emulator, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"X-API-Key": key or emu.api_key})


def attachments_path(emu: Emulator, item_id: str, *, legacy: bool = False) -> str:
    base = f"/api/v1/workspaces/{emu.workspace}/projects/{emu.project_id}"
    if legacy:
        return f"{base}/issues/{item_id}/issue-attachments/"
    return f"{base}/work-items/{item_id}/attachments/"


def create(
    client: httpx.Client, path: str, name: str = "hello.txt", size: int = 5,
    mime_type: str = "text/plain", **extra: Any,
) -> httpx.Response:
    return client.post(path, json={"name": name, "type": mime_type, "size": size, **extra})


def upload(ticket: dict[str, Any], content: bytes, **fields: str) -> httpx.Response:
    upload_data = ticket["upload_data"]
    form = {**upload_data["fields"], **fields}
    return httpx.post(upload_data["url"], data=form, files={"file": ("f", content)})


def upload_and_complete(
    client: httpx.Client, path: str, content: bytes, name: str = "hello.txt", **extra: Any
) -> str:
    created = create(client, path, name=name, size=len(content), **extra)
    assert created.status_code == 200, created.text
    ticket = created.json()
    assert upload(ticket, content).status_code == 204
    completed = client.patch(f"{path}{ticket['asset_id']}/", json={"is_uploaded": True})
    assert completed.status_code == 204
    return str(ticket["asset_id"])
