"""The ``plane-sync emulator`` command, and the emulator against moto's S3 server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path, create


def test_cli_prints_ready_line_serves_and_exits_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "plane_sync", "emulator", "--port", "0", "--work-items", "2",
         "--rate-limit", "5/60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            ready = json.loads(process.stdout.readline())
            assert set(ready) == {"url", "api_key", "workspace", "project_id",
                                  "project_identifier", "work_items"}
            assert ready["url"].startswith("http://127.0.0.1:")
            assert [item["identifier"] for item in ready["work_items"]] == ["PROJ-1", "PROJ-2"]
            response = httpx.get(f"{ready['url']}/api/v1/workspaces/acme/work-items/PROJ-2/",
                                 headers={"X-API-Key": ready["api_key"]})
            assert response.json()["id"] == ready["work_items"][1]["id"]
            assert response.headers["x-ratelimit-remaining"] == "4"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert ready["api_key"] not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_cli_starts_with_the_faults_it_is_given() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "plane_sync", "emulator", "--port", "0", "--rate-limit", "off",
         "--instance-down", "--lose-answers", "1", "--plane-clock-behind", "7200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            item = f"{ready['url']}/api/v1/workspaces/acme/work-items/PROJ-1/"
            headers = {"X-API-Key": ready["api_key"]}
            with pytest.raises(httpx.RemoteProtocolError):  # carried out, answer lost
                httpx.get(item, headers=headers)
            assert httpx.get(item, headers=headers).status_code == 200  # only the first
            assert httpx.get(f"{ready['url']}/api/instances/").status_code == 503
            path = (f"{ready['url']}/api/v1/workspaces/acme/projects/{ready['project_id']}/"
                    f"work-items/{ready['work_items'][0]['id']}/attachments/")
            ticket = httpx.post(path, headers=headers, json={
                "name": "a.txt", "type": "text/plain", "size": 1}).json()
            stored = httpx.post(ticket["upload_data"]["url"],
                                data=ticket["upload_data"]["fields"],
                                files={"file": ("a.txt", b"x")})
            assert stored.status_code == 403 and "expired" in stored.text.lower()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="uploads")
    try:
        yield endpoint
    finally:
        server.stop()


def test_presigned_post_from_the_emulator_works_on_moto(
    emulator_factory: Any, moto_endpoint: str
) -> None:
    emu: Emulator = emulator_factory(rate_limit=None, storage_endpoint=moto_endpoint)
    path = attachments_path(emu, emu.work_items[0]["id"])
    content = b"stored in moto"
    with api(emu) as client:
        ticket = create(client, path, size=len(content)).json()
        assert ticket["upload_data"]["url"] == f"{moto_endpoint}/uploads"
        stored = httpx.post(ticket["upload_data"]["url"], data=ticket["upload_data"]["fields"],
                            files={"file": ("f.txt", content)})
        assert stored.status_code == 204
        assert client.patch(f"{path}{ticket['asset_id']}/").status_code == 204
        listed = client.get(path).json()
        location = client.get(f"{path}{ticket['asset_id']}/").headers["location"]
    assert listed[0]["storage_metadata"]["ContentLength"] == len(content)
    assert location.startswith(f"{moto_endpoint}/uploads/")
    downloaded = httpx.get(location)
    assert (downloaded.status_code, downloaded.content) == (200, content)
    assert emu.requests()[0].server == "api"
    assert {r.server for r in emu.requests()} == {"api"}  # no own storage listener
