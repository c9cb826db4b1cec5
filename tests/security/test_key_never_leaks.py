"""The API key never reaches logs (any level, console or JSON, tracebacks included), the CLI's
output, the state database, or the storage host."""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pytest
import structlog

from plane_sync.core.models import UploadResult
from plane_sync.emulator import Emulator
from plane_sync.errors import PlaneSyncError
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.upload import upload_file
from plane_sync.service.logs import configure_logging
from tests.security.conftest import CliWorld

KEY = "plane_api_" + "5e" * 16


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    structlog.reset_defaults()


def locals_printer(sio: TextIO, exc_info: tuple[type[BaseException], BaseException,
                                                TracebackType]) -> None:
    """What rich's traceback formatter does by default (show_locals=True): print every
    frame's local variables."""
    tb: TracebackType | None = exc_info[2]
    while tb is not None:
        sio.write(repr(tb.tb_frame.f_locals) + "\n")
        tb = tb.tb_next


def fail_with_the_key_in_a_local() -> None:
    headers = [(b"X-API-Key", KEY.encode())]  # like httpcore's frames hold them
    raise ConnectionError(f"connection reset after {len(headers)} header(s)")


def swap_in_a_locals_printing_formatter() -> None:
    """Give the configured console renderer a formatter that prints frame locals, as it
    would have by default had rich been installed."""
    renderer = structlog.get_config()["processors"][-1]
    assert isinstance(renderer, structlog.dev.ConsoleRenderer)
    renderer.exception_formatter = locals_printer
    handler = next(h for h in logging.getLogger().handlers
                   if getattr(h, "_plane_sync_handler", False))
    formatter = handler.formatter
    assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
    stdlib_renderer = formatter.processors[-1]
    assert isinstance(stdlib_renderer, structlog.dev.ConsoleRenderer)
    stdlib_renderer.exception_formatter = locals_printer


@pytest.mark.parametrize("source", ["structlog", "stdlib"])
def test_console_tracebacks_never_show_frame_locals(source: str) -> None:
    out = io.StringIO()
    configure_logging("debug", "console", secrets=[KEY], stream=out)
    swap_in_a_locals_printing_formatter()
    try:
        fail_with_the_key_in_a_local()
    except ConnectionError:
        if source == "structlog":
            structlog.get_logger().exception("plane.failed")
        else:
            logging.getLogger("httpcore.connection").debug("failed", exc_info=True)
    text = out.getvalue()
    assert "ConnectionError: connection reset after 1 header(s)" in text  # traceback shown
    assert KEY not in text


def test_the_configured_console_renderer_prints_plain_tracebacks() -> None:
    configure_logging("info", "console", stream=io.StringIO())
    renderer = structlog.get_config()["processors"][-1]
    assert isinstance(renderer, structlog.dev.ConsoleRenderer)
    assert renderer.exception_formatter is structlog.dev.plain_traceback


def exercise(emu: Emulator, tmp_path: Path) -> None:
    retry = RetryPolicy(attempts=2, base_delay=0.0)
    with PlaneClient(emu.url, emu.api_key, emu.workspace, rate_limit=(1000, 1.0),
                     retry=retry) as c:
        c.me()
        item = c.resolve_identifier("PROJ-1")
        data = b"some bytes"
        path = tmp_path / "a.txt"
        path.write_bytes(data)
        result = upload_file(c, item, path, name="a.txt", mime_type="text/plain",
                             size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                             size_limit=c.file_size_limit(), root=tmp_path)
        assert isinstance(result, UploadResult)
        c.download(item, result.attachment_id, io.BytesIO())
        emu.faults.set(error_rate=1.0, only=["GET"])
        for call in (lambda: c.list_attachments(item),
                     lambda: c.download(item, str(uuid.uuid4()), io.BytesIO())):
            try:
                call()
            except PlaneSyncError:
                structlog.get_logger().exception("test.failed")
        emu.faults.clear()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_debug_logs_of_real_traffic_never_carry_the_key_even_unredacted(
        emulator: Emulator, tmp_path: Path, fmt: str) -> None:
    """Redaction is defense in depth: with no secret given to the redactor, nothing at
    debug level -- ours, httpx's, httpcore's -- may print the key in the first place."""
    out = io.StringIO()
    configure_logging("debug", fmt, secrets=(), stream=out)  # type: ignore[arg-type]
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    exercise(emulator, tmp_path)
    text = out.getvalue()
    assert "send_request_headers" in text  # httpcore's debug lines were really there
    assert "plane.request" in text
    assert emulator.api_key not in text
    assert emulator.api_key.removeprefix("plane_api_") not in text
    storage = [r for r in emulator.requests() if r.server == "storage"]
    assert len(storage) >= 2  # the POST and the download GET
    for record in storage:
        assert "x-api-key" not in {h.lower() for h in record.headers}
        assert emulator.api_key not in repr(record)


def everything_in(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def test_cli_output_and_state_database_never_carry_the_key(cli_world: CliWorld) -> None:
    key = cli_world.emu.api_key
    (cli_world.folder / "note.txt").write_bytes(b"hello")
    runs: list[Any] = [
        cli_world.cli("check", "--log-level", "debug"),
        cli_world.cli("sync", "--json", "--log-level", "debug", "--log-format", "json"),
        cli_world.cli("sync", "--log-level", "debug", "--log-format", "console"),
        cli_world.cli("status", "--json"),
        cli_world.cli("status"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0], [r.stderr for r in runs]
    assert "plane.request" in runs[1].stderr  # debug logging was on
    cli_world.emu.faults.set(error_rate=1.0)
    (cli_world.folder / "other.txt").write_bytes(b"other")
    failing = cli_world.cli("sync", "--json", "--log-level", "debug")
    assert failing.returncode != 0
    runs.append(failing)
    cli_world.emu.faults.clear()
    output = "\n".join(r.stdout + r.stderr for r in runs)
    assert key not in output and key.removeprefix("plane_api_") not in output
    db = everything_in(cli_world.state_dir)
    assert db and key.encode() not in db
    assert key.removeprefix("plane_api_").encode() not in db
