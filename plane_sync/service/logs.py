"""Logging set-up: structlog events, readable on a terminal, JSON lines under systemd.

Every line, from our code or from a library through stdlib ``logging`` (watchdog, httpx),
passes one chain: level, timestamp, exception text, **secret redaction**, renderer. Redaction
is defense in depth: nothing should log the API key in the first place, but if a URL, header or
traceback ever carries it, the line shows ``***`` instead.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from plane_sync.core.display import visible

Format = Literal["auto", "console", "json"]
REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter "secrets" would shred ordinary words
_HANDLER_MARK = "_plane_sync_handler"

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


class SecretRedactor:
    """structlog processor: replace every occurrence of a secret in any value with ``***``."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH},
                               key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        if not self._secrets:
            return event_dict
        for key, value in list(event_dict.items()):
            if key == "exc_info":
                self._clean_exc_info(event_dict)
            else:
                event_dict[key] = self._clean(value)
        return event_dict

    def _clean_exc_info(self, event_dict: EventDict) -> None:
        # Keep exc_info for pretty console tracebacks unless its text carries a secret.
        exc_info = event_dict["exc_info"]
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        if not isinstance(exc_info, tuple) or exc_info[0] is None:
            return
        text = "".join(traceback.format_exception(*exc_info))
        cleaned = self._clean_text(text)
        if cleaned != text:
            del event_dict["exc_info"]
            event_dict["exception"] = cleaned

    def _clean_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._clean_text(value)
        if isinstance(value, bytes):
            return self._clean_text(value.decode("utf-8", "replace"))
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return tuple(self._clean(v) for v in value)
        if isinstance(value, list | set | frozenset):
            return [self._clean(v) for v in value]
        # Anything else is rendered through repr(): check what would be printed.
        text = repr(value)
        cleaned = self._clean_text(text)
        return value if cleaned == text else cleaned


def _escape_for_terminal(logger: WrappedLogger, method: str,
                         event_dict: EventDict) -> EventDict:
    """Console lines: text values (file names among them) with control and bidi characters
    escaped, so that a name cannot clear the screen or forge a log line. The console
    renderer writes other values through repr(), which escapes them already; JSON lines
    escape them too (json.dumps writes \\uXXXX), so they stay exact."""
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = visible(value, keep_newlines=key == "exception")
    return event_dict


def _drop_color_message(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


# One lock for every writer of the log stream (structlog's and stdlib's), each line written in
# one call under it: print() writes a line and its newline apart, and with upload workers and
# httpcore logging on other threads a line could land between them (two events on one line,
# which a JSON reader drops).
_WRITE_LOCK = threading.Lock()


class _LineLogger:
    """structlog's logger: whole lines, under the shared lock."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            self._out.write(message + "\n")
            self._out.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stdlib handler, writing under the same lock."""

    def emit(self, record: logging.LogRecord) -> None:
        with _WRITE_LOCK:
            super().emit(record)


def configure_logging(level: str = "info", fmt: Format = "auto", *,
                      secrets: Sequence[str] = (), stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging; safe to call again (e.g. on SIGHUP)."""
    out = sys.stderr if stream is None else stream
    numeric = LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    redactor = SecretRedactor(secrets)
    # Tracebacks become plain text (no local variables) before the redactor, in both
    # formats: the console renderer's default formatter is rich's when rich is installed,
    # and that prints every frame's locals -- httpcore's request headers, X-API-Key
    # included -- after redaction could look at them.
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=out.isatty(),
                                      exception_formatter=structlog.dev.plain_traceback)
        if fmt == "console" else structlog.processors.JSONRenderer(sort_keys=False))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    if fmt == "console":
        shared.append(_escape_for_terminal)

    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _LineLogger(out),
        cache_logger_on_first_use=False,
    )

    # Route stdlib logging (watchdog, httpx, ...) through the same chain.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _drop_color_message, redactor, renderer],
    )
    handler = _LineHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # httpx logs every request at INFO; that is debug detail for a daemon.
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))


def redact(event: MutableMapping[str, Any], secrets: Sequence[str]) -> MutableMapping[str, Any]:
    """Redact a plain dict outside logging (e.g. a status report)."""
    return dict(SecretRedactor(secrets)(None, "", dict(event)))
