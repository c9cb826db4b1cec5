"""The storage host enforces presigned POST policies and presigned GET signatures like S3."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path, create, upload


def _ticket(emu: Emulator, size: int, **extra: Any) -> dict[str, Any]:
    with api(emu) as client:
        response = create(client, attachments_path(emu, emu.work_items[0]["id"]), size=size,
                          **extra)
    assert response.status_code == 200
    ticket: dict[str, Any] = response.json()
    return ticket


def _code(response: httpx.Response) -> tuple[int, str, str]:
    code = re.search(r"<Code>(.*?)</Code>", response.text)
    message = re.search(r"<Message>(.*?)</Message>", response.text)
    assert code and message, response.text
    return response.status_code, code.group(1), message.group(1)


def test_exact_size_is_accepted_and_stored(emulator: Emulator) -> None:
    ticket = _ticket(emulator, 5)
    assert upload(ticket, b"12345").status_code == 204
    assert emulator.stored_object(ticket["upload_data"]["fields"]["key"]) == b"12345"


def test_too_large(emulator: Emulator) -> None:
    response = upload(_ticket(emulator, 5), b"123456")
    assert _code(response)[:2] == (400, "EntityTooLarge")
    assert "<MaxSizeAllowed>5</MaxSizeAllowed>" in response.text


def test_larger_than_the_clamped_limit(emulator_factory: Any) -> None:
    emu = emulator_factory(rate_limit=None, file_size_limit=10)
    ticket = _ticket(emu, 1000)  # clamped to 10 at create time
    assert _code(upload(ticket, b"x" * 11))[:2] == (400, "EntityTooLarge")
    assert upload(ticket, b"x" * 10).status_code == 204


def test_empty_file_is_too_small(emulator: Emulator) -> None:
    assert _code(upload(_ticket(emulator, 5), b""))[:2] == (400, "EntityTooSmall")


def test_wrong_content_type_field(emulator: Emulator) -> None:
    status, code, message = _code(upload(_ticket(emulator, 1), b"x", **{"Content-Type": "a/b"}))
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith("Invalid according to Policy: Policy Condition failed:")
    assert "$Content-Type" in message


def test_wrong_key(emulator: Emulator) -> None:
    status, code, message = _code(upload(_ticket(emulator, 1), b"x", key="other/key.txt"))
    assert (status, code) == (403, "AccessDenied")
    assert "$key" in message


def test_extra_field_without_condition(emulator: Emulator) -> None:
    status, code, message = _code(upload(_ticket(emulator, 1), b"x", acl="public-read"))
    assert (status, code) == (403, "AccessDenied")
    assert message == "Invalid according to Policy: Extra input fields: acl"


def test_bad_signature(emulator: Emulator) -> None:
    response = upload(_ticket(emulator, 1), b"x", **{"x-amz-signature": "0" * 64})
    assert _code(response)[:2] == (403, "SignatureDoesNotMatch")


def test_tampered_policy_fails_the_signature(emulator: Emulator) -> None:
    ticket = _ticket(emulator, 1)
    other = _ticket(emulator, 100)["upload_data"]["fields"]["policy"]
    assert _code(upload(ticket, b"x", policy=other))[:2] == (403, "SignatureDoesNotMatch")


def test_expired_policy(emulator: Emulator) -> None:
    emulator.faults.set(expire_policies=True)
    status, code, message = _code(upload(_ticket(emulator, 1), b"x"))
    assert (status, code, message) == (
        403, "AccessDenied", "Invalid according to Policy: Policy expired.")


def test_missing_file_part(emulator: Emulator) -> None:
    ticket = _ticket(emulator, 1)
    response = httpx.post(ticket["upload_data"]["url"], files={
        name: (None, value) for name, value in ticket["upload_data"]["fields"].items()})
    assert _code(response)[:2] == (400, "InvalidArgument")


def test_not_multipart(emulator: Emulator) -> None:
    response = httpx.post(f"{emulator.storage_url}/uploads", content=b"x")
    assert response.status_code == 412


def _body(fields: list[tuple[str, bytes]], boundary: str = "XyZ") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        + (b'; filename="f.bin"' if name == "file" else b"")
        + b"\r\n\r\n" + value + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_fields_after_the_file_are_ignored(emulator: Emulator) -> None:
    ticket = _ticket(emulator, 4)
    fields = [(k, v.encode()) for k, v in ticket["upload_data"]["fields"].items()]
    # a wrong key after the file would fail the policy if S3 read it
    body = _body([*fields, ("file", b"data"), ("key", b"evil"), ("acl", b"x")])
    response = httpx.post(ticket["upload_data"]["url"], content=body,
                          headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 204
    assert emulator.stored_object(ticket["upload_data"]["fields"]["key"]) == b"data"
    assert emulator.stored_object("evil") is None


def test_chunked_upload_body(emulator: Emulator) -> None:
    ticket = _ticket(emulator, 6)
    fields = [(k, v.encode()) for k, v in ticket["upload_data"]["fields"].items()]
    body = _body([*fields, ("file", b"a\r\n--b")])

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = httpx.post(ticket["upload_data"]["url"], content=pieces(),
                          headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 204
    assert emulator.stored_object(ticket["upload_data"]["fields"]["key"]) == b"a\r\n--b"


def test_storage_error_fault(emulator: Emulator) -> None:
    emulator.faults.set(storage_error_rate=1.0)
    assert _code(upload(_ticket(emulator, 1), b"x"))[:2] == (503, "SlowDown")


@pytest.mark.slow
def test_large_upload_streams_from_a_file(emulator_factory: Any, tmp_path: Any) -> None:
    size = 200 * 1024 * 1024
    emu = emulator_factory(rate_limit=None, file_size_limit=size)
    source = tmp_path / "big.bin"
    digest = hashlib.md5(usedforsecurity=False)
    with source.open("wb") as out:
        block = os.urandom(1024 * 1024)
        for _ in range(200):
            out.write(block)
            digest.update(block)
    ticket = _ticket(emu, size, mime_type="application/octet-stream")
    with source.open("rb") as handle:
        response = httpx.post(ticket["upload_data"]["url"], data=ticket["upload_data"]["fields"],
                              files={"file": ("big.bin", handle)}, timeout=60)
    assert response.status_code == 204
    assert response.headers["etag"] == f'"{digest.hexdigest()}"'


class TestPresignedGet:
    def _location(self, emu: Emulator) -> str:
        path = attachments_path(emu, emu.work_items[0]["id"])
        ticket = _ticket(emu, 3)
        assert upload(ticket, b"abc").status_code == 204
        with api(emu) as client:
            client.patch(f"{path}{ticket['asset_id']}/")
            location: str = client.get(f"{path}{ticket['asset_id']}/").headers["location"]
        return location

    def test_valid_url_serves_the_object(self, emulator: Emulator) -> None:
        response = httpx.get(self._location(emulator))
        assert (response.status_code, response.content) == (200, b"abc")
        assert response.headers["content-type"] == "text/plain"

    def test_tampered_url_is_refused(self, emulator: Emulator) -> None:
        location = self._location(emulator).replace("X-Amz-Expires=3600", "X-Amz-Expires=9999")
        assert _code(httpx.get(location))[:2] == (403, "SignatureDoesNotMatch")

    def test_unsigned_get_is_refused(self, emulator: Emulator) -> None:
        location = self._location(emulator).split("?", 1)[0]
        assert _code(httpx.get(location))[:2] == (403, "AccessDenied")


def test_non_latin1_name_round_trips(emulator: Emulator) -> None:
    name = "Überblick – café ünïcödé.pdf"
    path = attachments_path(emulator, emulator.work_items[0]["id"])
    with api(emulator) as client:
        ticket = create(client, path, name=name, size=3, mime_type="application/pdf").json()
        stored = upload(ticket, b"pdf")
        assert stored.status_code == 204
        assert stored.headers["location"].isascii()
        client.patch(f"{path}{ticket['asset_id']}/")
        location = client.get(f"{path}{ticket['asset_id']}/").headers["location"]
    downloaded = httpx.get(location)
    assert (downloaded.status_code, downloaded.content) == (200, b"pdf")
    assert downloaded.headers["content-disposition"].isascii()
