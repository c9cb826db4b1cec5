"""Redirects never carry the key anywhere; plain http to another host warns; the emulator
listens on loopback unless told otherwise."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import httpx
import pytest

from plane_sync.config.load import parse_config
from plane_sync.core.models import WorkItem
from plane_sync.emulator import Emulator
from plane_sync.emulator.cli import build_parser
from plane_sync.errors import PlaneError
from plane_sync.remote.client import PlaneClient

KEY = "plane_api_" + "ef" * 16
ITEM = WorkItem(id=str(uuid.uuid4()), project_id=str(uuid.uuid4()))


def test_a_redirect_from_plane_is_never_followed_with_the_key() -> None:
    """A Plane route answering 3xx (a proxy, a compromised server) must not send the
    key on to the Location; only download() fetches a Location, and without the key."""
    seen: list[httpx.Request] = []

    def plane(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host != "plane.test":
            return httpx.Response(200, json=[])
        return httpx.Response(302, headers={"Location": "https://elsewhere.test/steal"})

    def storage(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"bytes")

    with PlaneClient("https://plane.test", KEY, "acme", transport=httpx.MockTransport(plane),
                     storage_transport=httpx.MockTransport(storage)) as client:
        with pytest.raises(PlaneError):
            client.list_attachments(ITEM)
        with pytest.raises(PlaneError):
            client.me()
        assert client.download(ITEM, str(uuid.uuid4()), io.BytesIO()) == len(b"bytes")
    elsewhere = [r for r in seen if r.url.host != "plane.test"]
    assert [str(r.url) for r in elsewhere] == ["https://elsewhere.test/steal"]  # download
    assert "x-api-key" not in elsewhere[0].headers
    assert all(r.headers.get("x-api-key") == KEY for r in seen if r.url.host == "plane.test")


def test_the_storage_client_follows_no_redirect_either() -> None:
    hops: list[str] = []

    def storage(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://third.test/"})

    with PlaneClient("https://plane.test", KEY, "acme",
                     storage_transport=httpx.MockTransport(storage)) as client:
        assert client.storage_client.get("https://s3.test/obj").status_code == 302
    assert hops == ["https://s3.test/obj"]


def config_text(url: str, folder: Path) -> str:
    return (f"plane: {{url: '{url}', api_key: '{KEY}', workspace: acme}}\n"
            f"state_dir: '{folder.parent / 'state'}'\n"
            f"folders: [{{path: '{folder}', work_item: PROJ-1}}]\n")


@pytest.mark.parametrize(("url", "warns"), [
    ("http://plane.example.com", True),
    ("http://10.0.0.5:8000", True),
    ("https://plane.example.com", False),
    ("http://127.0.0.1:8000", False),
    ("http://localhost", False),
    ("http://[::1]:8000", False),
])
def test_plain_http_to_another_host_warns(tmp_path: Path, url: str, warns: bool) -> None:
    config = parse_config(config_text(url, tmp_path / "files"))
    assert any("unencrypted" in w for w in config.warnings) is warns
    assert all(KEY not in w for w in config.warnings)


def test_the_emulator_listens_on_loopback_by_default() -> None:
    assert build_parser().parse_args([]).host == "127.0.0.1"
    emu = Emulator(rate_limit=None).start()
    try:
        assert emu.url.startswith("http://127.0.0.1:")
        assert emu.storage_url.startswith("http://127.0.0.1:")
    finally:
        emu.stop()
