"""HTTP plumbing shared by the API and storage listeners: body reading, replies, request log."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class RequestRecord:
    """One request as a listener saw it. ``status`` is 0 when the connection was dropped."""

    time: float
    server: str  # "api" | "storage"
    method: str
    path: str
    query: str
    status: int
    headers: Mapping[str, str]
    body_bytes: int


class RequestLog:
    """Thread-safe list of RequestRecord."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    file_path: str | None = None  # stream this file as the body instead of ``body``


class BodyReader:
    """Reads a request body framed by Content-Length or chunked transfer coding."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._rfile = handler.rfile
        self.consumed = 0
        chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
        self._chunked = chunked
        self._left = 0 if chunked else int(handler.headers.get("Content-Length") or 0)
        self._chunk_left = 0
        self._done = False

    def read(self, size: int) -> bytes:
        data = self._read_chunked(size) if self._chunked else self._read_plain(size)
        self.consumed += len(data)
        return data

    def _read_plain(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        data = self._rfile.read(min(size, self._left))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self._left -= len(data)
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._done:
            return b""
        if self._chunk_left == 0:
            line = self._rfile.readline(65537)
            length = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if length == 0:
                while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
            self._chunk_left = length
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(3)  # CRLF after the chunk
        return data

    def read_all(self, limit: int = 64 * 1024 * 1024) -> bytes:
        parts: list[bytes] = []
        total = 0
        while chunk := self.read(256 * 1024):
            total += len(chunk)
            if total > limit:
                raise ValueError("request body too large")
            parts.append(chunk)
        return b"".join(parts)

    def drain(self) -> None:
        while self.read(256 * 1024):
            pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any
    ) -> None:
        super().__init__(address, handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeouts, dropped connections) is normal here, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler; subclasses implement ``route`` and set ``server_kind``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_kind = "?"
    server_version = "plane-sync-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read emu.requests() instead

    @property
    def app(self) -> Any:
        return self.server.app  # type: ignore[attr-defined]

    def route(self, body: BodyReader) -> Reply | None:
        """Answer one request; ``None`` means: close the connection without answering."""
        raise NotImplementedError

    def _dispatch(self) -> None:
        body = BodyReader(self)
        path, _, query = self.path.partition("?")
        reply: Reply | None = None
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            on_record: Callable[[RequestRecord], None] = self.app.record
            on_record(RequestRecord(
                time=time.time(),
                server=self.server_kind,
                method=self.command,
                path=path,
                query=query,
                status=reply.status if reply is not None else 0,
                headers={k.lower(): v for k, v in self.headers.items()},
                body_bytes=body.consumed,
            ))

        try:
            reply = self.route(body)
            if reply is None:
                self.close_connection = True
            else:
                body.drain()  # whatever the route left unread: keeps keep-alive usable
            # Logged before the answer leaves: a client that has its answer can rely on
            # finding the request in emu.requests().
            record()
            if reply is not None:
                self._send(reply)
        finally:
            if not recorded:  # the route raised: still log what came in
                record()

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            # http.server encodes header values as latin-1; never crash on a client's value.
            self.send_header(name, value if value.isascii() else quote(value, safe=" /;=*'\""))
        if reply.file_path is not None:
            with open(reply.file_path, "rb") as source:
                self.send_header("Content-Length", str(os.fstat(source.fileno()).st_size))
                self.end_headers()
                if self.command != "HEAD":
                    shutil.copyfileobj(source, self.wfile, 256 * 1024)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _dispatch
