"""Upload through a real S3 implementation (moto, server mode) standing behind the emulator.

Shows that the streamed multipart POST (fields verbatim, file last, Content-Length set) is
what S3 accepts, by downloading the object back through Plane's 302 and comparing bytes.
moto does not enforce POST policies (measured), so policy failures are tested against the
emulator's own storage host in test_upload.py.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plane_sync.core.mime import mime_type_for
from plane_sync.core.models import UploadResult
from plane_sync.emulator import Emulator
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.upload import upload_file

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="uploads")
    yield endpoint
    server.stop()


@pytest.mark.parametrize(("name", "size"), [
    ("report.pdf", 1024),
    ("Überblick – café.txt", 3000),
    ("big.bin", 3 * 1024 * 1024 + 17),
])
def test_upload_through_moto_and_download_back(
        moto_endpoint: str, emulator_factory: Callable[..., Emulator], tmp_path: Path,
        name: str, size: int) -> None:
    emu = emulator_factory(rate_limit=None, storage_endpoint=moto_endpoint,
                           storage_bucket="uploads")
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    with PlaneClient(emu.url, emu.api_key, emu.workspace, rate_limit=(1000, 1.0),
                     retry=RetryPolicy(attempts=3, base_delay=0.01)) as client:
        item = client.resolve_identifier("PROJ-1")
        result = upload_file(client, item, path, name=name, mime_type=mime_type_for(name),
                             size=size, sha256=hashlib.sha256(data).hexdigest(),
                             external_id=f"moto:{name}", external_source="test",
                             size_limit=client.file_size_limit())
        assert isinstance(result, UploadResult)
        [listed] = client.list_attachments(item)
        assert (listed.name, listed.size) == (name, size)
        assert listed.content_length == size  # moto's HEAD, stored by the "Celery task"
        assert listed.etag_md5 == hashlib.md5(data).hexdigest()  # noqa: S324 (S3 ETag)
        buf = io.BytesIO()
        assert client.download(item, listed.id, buf) == size
    assert buf.getvalue() == data
    # moto keeps its buckets per process, so look the object up by this upload's key.
    [row] = emu.attachments(item.id)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    stored = s3.get_object(Bucket="uploads", Key=row["asset"])["Body"].read()
    assert stored == data and row["asset"].endswith(name)
