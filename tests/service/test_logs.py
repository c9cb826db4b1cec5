from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from plane_sync.service.logs import REDACTED, SecretRedactor, configure_logging, redact

KEY = "plane_api_7f3c9a1b2e"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_events_are_noun_verb_with_key_values() -> None:
    configure_logging("info", "json", stream=io.StringIO())
    with capture_logs() as logs:
        structlog.get_logger().info("upload.done", folder="docs", bytes=12)
    assert logs == [{"event": "upload.done", "folder": "docs", "bytes": 12, "log_level": "info"}]


def test_json_output_redacts_a_secret_anywhere_in_an_event() -> None:
    out = io.StringIO()
    configure_logging("info", "json", secrets=[KEY], stream=out)
    structlog.get_logger().warning(
        "plane.request", url=f"https://plane.example/api?key={KEY}", headers={"X-API-Key": KEY},
        attempts=[KEY, 3], plain="nothing to hide")
    [event] = json_lines(out)
    assert event["event"] == "plane.request"
    assert event["url"] == f"https://plane.example/api?key={REDACTED}"
    assert event["headers"] == {"X-API-Key": REDACTED}
    assert event["attempts"] == [REDACTED, 3]
    assert event["plain"] == "nothing to hide"
    assert event["level"] == "warning"
    assert "timestamp" in event
    assert KEY not in out.getvalue()


def test_secret_in_a_traceback_is_redacted() -> None:
    out = io.StringIO()
    configure_logging("info", "json", secrets=[KEY], stream=out)
    try:
        raise RuntimeError(f"request failed with key {KEY}")
    except RuntimeError:
        structlog.get_logger().exception("plane.failed")
    [event] = json_lines(out)
    assert "RuntimeError: request failed with key ***" in event["exception"]
    assert KEY not in out.getvalue()


def test_stdlib_logging_goes_through_the_same_chain() -> None:
    out = io.StringIO()
    configure_logging("info", "json", secrets=[KEY], stream=out)
    logging.getLogger("watchdog.observers.inotify_c").warning("lost events under %s", KEY)
    logging.getLogger("somelib").debug("hidden at info level")
    [event] = json_lines(out)
    assert event["event"] == f"lost events under {REDACTED}"
    assert event["logger"] == "watchdog.observers.inotify_c"
    assert event["level"] == "warning"


def test_level_filters_structlog_events() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    structlog.get_logger().info("scan.done")
    structlog.get_logger().error("scan.failed")
    assert [e["event"] for e in json_lines(out)] == ["scan.failed"]


def test_console_format_is_readable_and_redacted() -> None:
    out = io.StringIO()
    configure_logging("info", "console", secrets=[KEY], stream=out)
    structlog.get_logger().info("config.loaded", api_key=KEY, folders=2)
    text = out.getvalue()
    assert "config.loaded" in text
    assert f"api_key={REDACTED}" in text
    assert KEY not in text
    assert not text.lstrip().startswith("{")


def test_auto_picks_json_when_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    structlog.get_logger().info("daemon.started")
    assert json_lines(out)[0]["event"] == "daemon.started"


def test_configure_twice_keeps_one_handler() -> None:
    configure_logging("info", "json", stream=io.StringIO())
    configure_logging("info", "json", stream=io.StringIO())
    marked = [h for h in logging.getLogger().handlers if getattr(h, "_plane_sync_handler", False)]
    assert len(marked) == 1


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud")


def test_redactor_ignores_too_short_secrets_and_objects_without_secrets() -> None:
    class Holder:
        def __repr__(self) -> str:
            return f"Holder(key={KEY})"

    marker = object()
    out = SecretRedactor([KEY, "", "ab"])(None, "", {"h": Holder(), "o": marker, "w": "abab"})
    assert out["h"] == f"Holder(key={REDACTED})"
    assert out["o"] is marker
    assert out["w"] == "abab"
    assert redact({"k": KEY}, [KEY]) == {"k": REDACTED}


class PipeLike(io.StringIO):
    """A stream whose writes let other threads run, as a write to a pipe or the journal
    does (it releases the GIL)."""

    def write(self, text: str) -> int:
        written = super().write(text)
        time.sleep(0.0001)
        return written

    def isatty(self) -> bool:
        return False


def test_lines_from_many_threads_and_both_loggers_are_never_interleaved() -> None:
    """Upload workers log (structlog) while httpcore logs (stdlib) on other threads: every
    line written is one whole JSON object (print wrote a line and its newline apart, so
    another thread's line could land between them and two events shared a line)."""
    out = PipeLike()
    configure_logging("debug", "json", stream=out)

    def structured(n: int) -> None:
        for i in range(100):
            structlog.get_logger("t").info("upload.done", worker=n, i=i)

    def stdlib(n: int) -> None:
        for i in range(100):
            logging.getLogger("httpcore.http11").debug("send_request_body.complete %d", i)

    threads = [threading.Thread(target=f, args=(n,)) for n in range(4)
               for f in (structured, stdlib)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 * 100
    for line in lines:
        json.loads(line)
