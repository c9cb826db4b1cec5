"""The API key never shows up in logs, output, reprs, error messages, or at the storage host."""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from plane_sync.core.models import UploadResult, WorkItem
from plane_sync.emulator import Emulator
from plane_sync.errors import PlaneSyncError
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.upload import upload_file


def exercise(emu: Emulator, key: str, tmp_path: Path) -> list[str]:
    """Run every client call, good and failing; return the text of every error and repr."""
    texts: list[str] = []
    retry = RetryPolicy(attempts=2, base_delay=0.0)
    with PlaneClient(emu.url, key, emu.workspace, rate_limit=(1000, 1.0), retry=retry) as c:
        texts.append(repr(c))
        texts.append(repr(c.limiter))
        item = c.resolve_identifier("PROJ-1")
        data = b"secret-free content"
        path = tmp_path / "a.txt"
        path.write_bytes(data)
        result = upload_file(c, item, path, name="a.txt", mime_type="text/plain",
                             size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                             size_limit=c.file_size_limit())
        assert isinstance(result, UploadResult)
        c.download(item, result.attachment_id, io.BytesIO())
        c.list_projects()
        calls: list[Callable[[], object]] = [
            lambda: c.resolve_identifier("NOPE-1"),
            lambda: c.resolve_identifier("PROJ-999"),
            lambda: c.resolve_identifier("PROJ-x"),
            lambda: c.get_work_item(emu.project_id, str(uuid.uuid4())),
            lambda: c.complete_attachment(item, str(uuid.uuid4())),
            lambda: c.download(item, str(uuid.uuid4()), io.BytesIO()),
            lambda: upload_file(c, item, path, name="a.txt", mime_type="text/plain",
                                size=len(data), sha256="0" * 64, size_limit=10**6),
        ]
        emu.faults.set(error_rate=1.0, only=["GET"])
        calls.append(lambda: c.list_attachments(item))
        for call in calls:
            with pytest.raises(PlaneSyncError) as info:
                call()
            texts += [str(info.value), repr(info.value), info.value.message]
        emu.faults.clear()
    wrong = PlaneClient(emu.url, "plane_api_" + "0" * 32, emu.workspace, retry=retry)
    with wrong, pytest.raises(PlaneSyncError) as info:
        wrong.me()
    texts.append(str(info.value))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with PlaneClient(f"http://127.0.0.1:{port}", key, "acme", retry=retry) as gone, \
            pytest.raises(PlaneSyncError) as info:
        gone.me()
    texts += [str(info.value), repr(gone)]
    return texts


def check_storage_never_saw_it(emu: Emulator) -> None:
    storage = [r for r in emu.requests() if r.server == "storage"]
    assert storage
    for record in storage:
        assert "x-api-key" not in record.headers
        assert emu.api_key not in repr(record)


def test_key_absent_from_captured_structlog_and_stdlib_logs(
        emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = emulator.api_key
    caplog.set_level(logging.DEBUG)  # includes httpx/httpcore debug lines
    with capture_logs() as events:
        texts = exercise(emulator, key, tmp_path)
    out = capsys.readouterr()
    assert events, "structlog events were captured"
    everything = "\n".join([*texts, repr(events), caplog.text, out.out, out.err])
    assert key not in everything
    assert key[len("plane_api_"):] not in everything
    check_storage_never_saw_it(emulator)


def test_key_absent_from_rendered_console_output(
        emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()  # the default console renderer, printing to stdout
    texts = exercise(emulator, emulator.api_key, tmp_path)
    out = capsys.readouterr()
    assert "plane.request" in out.out  # the log really went to the captured output
    assert emulator.api_key not in "\n".join([*texts, out.out, out.err])


def test_key_fragments_in_server_text_are_scrubbed() -> None:
    import httpx
    key = "plane_api_" + uuid.uuid4().hex

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": f"bad key {request.headers['x-api-key']}"})

    with PlaneClient("http://plane.test", key, "acme",
                     transport=httpx.MockTransport(echo)) as client, \
            pytest.raises(PlaneSyncError) as info:
        client.list_attachments(WorkItem(id=str(uuid.uuid4()), project_id=str(uuid.uuid4())))
    assert key not in str(info.value) and "***" in str(info.value)
