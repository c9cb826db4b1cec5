"""The three-step upload over loopback against the Plane emulator."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plane_sync.core.mime import FALLBACK, mime_type_for
from plane_sync.core.models import CreateConflict, UploadResult, WorkItem
from plane_sync.emulator import Emulator
from plane_sync.errors import (
    FileChangedDuringUpload,
    LocalFileError,
    StorageRejected,
    UploadError,
)
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.upload import upload_file

Factory = Callable[..., Emulator]
LIMIT = 5 * 1024 * 1024


def client_for(emu: Emulator, **kwargs: Any) -> PlaneClient:
    kwargs.setdefault("rate_limit", (1000, 1.0))
    kwargs.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
    return PlaneClient(emu.url, emu.api_key, emu.workspace, **kwargs)


def storage_log(emu: Emulator, count: int) -> list[Any]:
    """The storage requests, once ``count`` are logged: the emulator logs a request after
    its reply is sent, so the client can be a moment ahead of the log."""
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in emu.requests() if r.server == "storage"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def upload(client: PlaneClient, item: WorkItem, path: Path, *, name: str | None = None,
           limit: int = LIMIT, data: bytes | None = None, **kwargs: Any
           ) -> UploadResult | CreateConflict:
    content = path.read_bytes() if data is None else data
    name = name or path.name
    return upload_file(client, item, path, name=name, mime_type=mime_type_for(name),
                       size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                       size_limit=limit, **kwargs)


@pytest.fixture
def client(emulator: Emulator) -> PlaneClient:
    with client_for(emulator) as c:
        yield c  # type: ignore[misc]


@pytest.fixture
def item(client: PlaneClient) -> WorkItem:
    return client.resolve_identifier("PROJ-1")


@pytest.mark.parametrize(("name", "size", "mime"), [
    ("one-kib.txt", 1024, "text/plain"),
    ("exactly-limit.bin", LIMIT, FALLBACK),
    ("Überblick – café ünïcödé.pdf", 2000, "application/pdf"),
    ("data.qqunknownext", 333, FALLBACK),
])
def test_uploads_are_listed_with_name_size_and_type(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path,
        name: str, size: int, mime: str) -> None:
    data = os.urandom(size)
    path = write(tmp_path, name, data)
    created: list[str] = []
    result = upload(client, item, path, on_created=created.append,
                    external_id=f"id-{name}", external_source="test")
    assert isinstance(result, UploadResult) and result.bytes_sent == size
    assert created == [result.attachment_id]
    [listed] = client.list_attachments(item)
    assert (listed.id, listed.name, listed.size, listed.mime_type) == (
        result.attachment_id, name, size, mime)
    assert listed.etag_md5 == hashlib.md5(data).hexdigest()  # noqa: S324 (S3 ETag)
    row = emulator.attachments(item.id)[0]
    assert emulator.stored_object(row["asset"]) == data


@pytest.mark.parametrize(("size", "reason"), [(0, "empty"), (LIMIT + 1, "too-large")])
def test_refused_before_any_network_call(emulator: Emulator, client: PlaneClient,
                                         tmp_path: Path, size: int, reason: str) -> None:
    item = WorkItem(id=emulator.work_items[0]["id"], project_id=emulator.project_id)
    path = write(tmp_path, "f.bin", b"x" * size)
    with pytest.raises(LocalFileError) as info:
        upload(client, item, path)
    assert info.value.reason == reason and str(path) in info.value.message
    assert emulator.requests() == []


def test_symlink_is_never_followed(emulator: Emulator, client: PlaneClient,
                                   tmp_path: Path) -> None:
    item = WorkItem(id=emulator.work_items[0]["id"], project_id=emulator.project_id)
    target = write(tmp_path, "real.txt", b"secret")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(LocalFileError) as info:
        upload(client, item, link, data=b"secret")
    assert info.value.reason == "symlink"
    assert emulator.requests() == []


def test_size_changed_since_scan_is_refused(emulator: Emulator, client: PlaneClient,
                                            tmp_path: Path) -> None:
    item = WorkItem(id=emulator.work_items[0]["id"], project_id=emulator.project_id)
    path = write(tmp_path, "a.txt", b"longer now")
    with pytest.raises(LocalFileError) as info:
        upload(client, item, path, data=b"short")
    assert info.value.reason == "changed" and emulator.requests() == []


def test_content_changed_is_detected_and_cleaned_up(emulator: Emulator, client: PlaneClient,
                                                    item: WorkItem, tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"BBBB")
    with pytest.raises(FileChangedDuringUpload) as info:
        upload(client, item, path, data=b"AAAA", external_id="x", external_source="t")
    assert info.value.step == "storage" and "changed" in info.value.message
    rows = emulator.attachments(item.id, include_pending=True, include_deleted=True)
    assert len(rows) == 1 and rows[0]["deleted_at"] is not None
    assert not [r for r in emulator.requests() if r.method == "PATCH"]


def test_conflict_is_returned_typed(client: PlaneClient, item: WorkItem,
                                    tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"hello")
    first = upload(client, item, path, external_id="same", external_source="t")
    assert isinstance(first, UploadResult)
    second = upload(client, item, path, external_id="same", external_source="t")
    assert second == CreateConflict(existing_id=first.attachment_id)


def test_expired_policy_is_rejected_and_pending_row_deleted(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path) -> None:
    emulator.faults.set(expire_policies=True)
    path = write(tmp_path, "a.txt", b"hello")
    created: list[str] = []
    with pytest.raises(StorageRejected) as info:
        upload(client, item, path, on_created=created.append)
    assert info.value.step == "storage" and info.value.status == 403
    assert info.value.code == "AccessDenied"
    [row] = emulator.attachments(item.id, include_pending=True, include_deleted=True)
    assert row["id"] == created[0] and row["deleted_at"] is not None
    assert not [r for r in emulator.requests() if r.method == "PATCH"]


def test_storage_5xx_is_retried_with_the_file_resent(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path) -> None:
    emulator.faults.set(storage_error_rate=0.5, seed=7)  # POST, 503, 204
    data = os.urandom(300_000)
    path = write(tmp_path, "a.bin", data)
    result = upload(client, item, path)
    assert isinstance(result, UploadResult)
    posts = [r.status for r in storage_log(emulator, 2)]
    assert posts == [503, 204]
    assert emulator.stored_object(emulator.attachments(item.id)[0]["asset"]) == data


def test_storage_always_failing_names_the_step_and_cleans_up(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path) -> None:
    emulator.faults.set(storage_error_rate=1.0)
    path = write(tmp_path, "a.bin", b"abc")
    with pytest.raises(StorageRejected) as info:
        upload(client, item, path)
    assert info.value.step == "storage" and info.value.status == 503
    [row] = emulator.attachments(item.id, include_pending=True, include_deleted=True)
    assert row["deleted_at"] is not None


def test_create_failure_names_the_step(emulator: Emulator, client: PlaneClient,
                                       item: WorkItem, tmp_path: Path) -> None:
    emulator.faults.set(error_rate=1.0, only=["POST"])
    path = write(tmp_path, "a.txt", b"abc")
    with pytest.raises(UploadError) as info:
        upload(client, item, path)
    assert info.value.step == "create"
    assert not [r for r in emulator.requests() if r.server == "storage"]


def test_complete_failure_names_the_step_and_keeps_the_id(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path) -> None:
    emulator.faults.set(error_rate=1.0, only=["PATCH"])
    path = write(tmp_path, "a.txt", b"abc")
    created: list[str] = []
    with pytest.raises(UploadError) as info:
        upload(client, item, path, on_created=created.append)
    assert info.value.step == "complete" and info.value.attachment_id == created[0]
    emulator.faults.clear()
    client.complete_attachment(item, created[0])  # a later run can finish it
    assert [a.id for a in client.list_attachments(item)] == created


def test_on_created_runs_before_the_storage_post(emulator: Emulator, client: PlaneClient,
                                                 item: WorkItem, tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"abc")
    seen: list[int] = []

    def journal(attachment_id: str) -> None:
        seen.append(sum(r.server == "storage" for r in emulator.requests()))

    upload(client, item, path, on_created=journal)
    assert seen == [0]


def test_storage_post_carries_content_length_and_fields_first(
        emulator: Emulator, client: PlaneClient, item: WorkItem, tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"abc")
    upload(client, item, path)
    [post] = storage_log(emulator, 1)
    assert int(post.headers["content-length"]) == post.body_bytes
    assert "transfer-encoding" not in post.headers and "x-api-key" not in post.headers


def test_markdown_on_an_old_server_falls_back(emulator: Emulator, client: PlaneClient,
                                              item: WorkItem, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import plane_sync.emulator.views as views
    monkeypatch.setattr(views, "PLANE_ALLOWED", views.PLANE_ALLOWED - {"text/markdown"})
    path = write(tmp_path, "notes.md", b"# hi")
    result = upload(client, item, path)
    assert isinstance(result, UploadResult)
    [listed] = client.list_attachments(item)
    assert listed.mime_type == FALLBACK


def test_parallel_uploads_share_one_client(emulator: Emulator, client: PlaneClient,
                                           item: WorkItem, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            path = write(tmp_path, f"f{n}.txt", f"file {n}".encode())
            result = upload(client, item, path, external_id=f"e{n}", external_source="t")
            assert isinstance(result, UploadResult)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(client.list_attachments(item)) == 8


def test_file_truncated_while_sending_is_detected(emulator: Emulator, client: PlaneClient,
                                                  item: WorkItem, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    path = write(tmp_path, "a.bin", data)

    def shrink(attachment_id: str) -> None:  # after create, before the bytes go out
        with path.open("r+b") as f:
            f.truncate(1000)

    with pytest.raises(FileChangedDuringUpload) as info:
        upload(client, item, path, data=data, on_created=shrink)
    assert info.value.step == "storage" and "1000 of 200000" in info.value.message
    [row] = emulator.attachments(item.id, include_pending=True, include_deleted=True)
    assert row["deleted_at"] is not None and not row["is_uploaded"]


def test_multipart_body_sends_every_field_verbatim_in_order_and_the_file_last() -> None:
    # S3 ignores fields after the file part: order matters, and values must be untouched.
    import email.parser
    import io as _io

    from plane_sync.remote.storage import FileBody

    fields = {"Content-Type": "text/plain", "key": "ws/abc-ü n.txt", "x-amz-algorithm": "A",
              "x-amz-credential": "c/1/r/s3/aws4_request", "x-amz-date": "20261129T000000Z",
              "policy": "eyJ9", "x-amz-signature": "f00"}
    data = b"hello world"
    body = FileBody(fields, _io.BytesIO(data), filename="a.txt", content_type="text/plain",
                    size=len(data))
    raw = b"".join(body)
    assert len(raw) == body.length
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = message.get_payload()
    assert isinstance(parts, list)
    names = [p.get_param("name", header="content-disposition") for p in parts]
    assert names == [*fields, "file"]
    values = [p.get_payload(decode=True) for p in parts]
    assert values[:-1] == [v.encode() for v in fields.values()]
    assert values[-1] == data
