"""The storage host's SigV4 checks agree with botocore's signer (the reference implementation).

moto checks no signatures, so these tests are what shows the emulator's signing is real:
URLs and POST policies signed by boto3 must pass the emulator's verifier, and the verifier
shares its code with the emulator's own signer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator
from plane_sync.emulator.sigv4 import Credentials, presigned_get_url, presigned_post_fields

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")


def _client(emu: Emulator, secret: str = "testing") -> Any:  # noqa: S107 - moto-style test key
    return boto3.client(
        "s3", endpoint_url=emu.storage_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key=secret,
        config=botocore_config.Config(signature_version="s3v4",
                                      s3={"addressing_style": "path"}),
    )


def test_boto3_presigned_post_is_accepted(emulator: Emulator) -> None:
    key = "ws/abc-ü n.txt"
    post = _client(emulator).generate_presigned_post(
        "uploads", key, Fields={"Content-Type": "text/plain"},
        Conditions=[["content-length-range", 1, 10], {"Content-Type": "text/plain"}],
        ExpiresIn=60,
    )
    response = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"hi")})
    assert response.status_code == 204, response.text
    assert emulator.stored_object(key) == b"hi"


def test_boto3_presigned_post_with_another_secret_is_refused(emulator: Emulator) -> None:
    post = _client(emulator, secret="wrong").generate_presigned_post("uploads", "k", ExpiresIn=60)
    response = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"hi")})
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_boto3_presigned_get_is_accepted(emulator: Emulator) -> None:
    key = "ws/abc-ü n.txt"
    fields = presigned_post_fields(
        Credentials("testing", "testing"), "uploads", key, "text/plain", 10,
        dt.datetime.now(dt.UTC),
    )
    stored = httpx.post(f"{emulator.storage_url}/uploads", data=fields,
                        files={"file": ("f", b"hello")})
    assert stored.status_code == 204, stored.text
    url = _client(emulator).generate_presigned_url(
        "get_object", ExpiresIn=60,
        Params={"Bucket": "uploads", "Key": key,
                "ResponseContentDisposition": "attachment; filename*=UTF-8''x.txt"},
    )
    response = httpx.get(url)
    assert (response.status_code, response.content) == (200, b"hello"), response.text
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''x.txt"
    refused = httpx.get(_client(emulator, secret="wrong").generate_presigned_url(
        "get_object", Params={"Bucket": "uploads", "Key": key}, ExpiresIn=60))
    assert refused.status_code == 403


def test_expired_presigned_get_is_refused(emulator: Emulator) -> None:
    creds = Credentials("testing", "testing")
    key = "ws/old.txt"
    fields = presigned_post_fields(creds, "uploads", key, "text/plain", 10,
                                   dt.datetime.now(dt.UTC))
    httpx.post(f"{emulator.storage_url}/uploads", data=fields, files={"file": ("f", b"x")})
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    url = presigned_get_url(creds, emulator.storage_url, "uploads", key, [], two_hours_ago, 3600)
    response = httpx.get(url)
    assert response.status_code == 403
    assert "Request has expired" in response.text
