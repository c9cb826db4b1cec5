"""The daemon's control socket: ``<state_dir>/control.sock``, a Unix socket, owner only.

Protocol (version 1): one connection per request. The client sends one JSON object on one
line, ``{"version": 1, "op": "status" | "pause" | "resume" | "rescan", "folders": [PATH, ...]
| null}``, and reads one JSON object on one line: ``{"version": 1, "ok": true, ...}`` or
``{"version": 1, "ok": false, "error": "..."}``. A request of a newer version than the
daemon speaks gets ``ok: false`` naming both versions, so a newer client can tell.

Who may connect: the socket is made 0600 in the state directory (0700), and each peer's
credentials (SO_PEERCRED) are checked as well: only the daemon's own user and root. There is
no TCP listener.

Nothing a client does can hold the daemon up: requests are served by their own threads, a
connection gets ``IO_TIMEOUT`` seconds to say what it wants, and answers come from memory
(:mod:`plane_sync.service.live`), never from the worker, the database, a folder or Plane.

Unix socket paths are limited to 107 bytes, and a state directory can be deeper than that
allows: both ends reach the socket through ``/proc/self/fd/N/control.sock``, N being a
descriptor of the state directory, which is always short.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

SOCKET_NAME = "control.sock"
PROTOCOL_VERSION = 1
IO_TIMEOUT = 2.0
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@contextlib.contextmanager
def socket_address(state_dir: Path) -> Iterator[str]:
    """A path to ``state_dir/control.sock`` short enough for bind() and connect()."""
    direct = str(state_dir / SOCKET_NAME)
    if len(os.fsencode(direct)) < 100:
        yield direct
        return
    fd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_NAME}"
    finally:
        os.close(fd)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def read_line(sock: socket.socket, limit: int = MAX_REQUEST) -> bytes:
    """Bytes up to the first newline (or EOF); socket timeouts pass through."""
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError(f"message over {limit} bytes")
    return data.split(b"\n", 1)[0]


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class _RequestHandler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IO_TIMEOUT)
        try:
            uid = peer_uid(sock)
            # The request is read even from a caller who is refused: closing a socket with
            # unread data resets the connection, and the refusal would be lost with it.
            line = read_line(sock)
            if uid not in (os.geteuid(), 0):
                log.warning("control.refused", uid=uid, note="only the daemon's user and root")
                sock.sendall(encode(_error(f"user {uid} may not control this daemon")))
                return
            sock.sendall(encode(self._answer(line)))
        except (OSError, ValueError) as exc:  # a client that went away or talks nonsense
            log.debug("control.client_error", error=str(exc))

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return _error("not a JSON request")
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return _error('a request is a JSON object with "op"')
        version = request.get("version")
        if not isinstance(version, int) or version > PROTOCOL_VERSION:
            return _error(f"protocol version {version!r} is not spoken here (this daemon "
                          f"speaks {PROTOCOL_VERSION})")
        try:
            answer = self.server.handle_request_dict(request)
        except Exception as exc:  # a bug must not kill the control thread
            log.exception("control.handler_failed", op=request.get("op"))
            return _error(f"internal error: {type(exc).__name__}")
        return {"version": PROTOCOL_VERSION, **answer}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: str, handler: Handler) -> None:
        self.handle_request_dict = handler
        super().__init__(address, _RequestHandler)


def _error(message: str) -> dict[str, Any]:
    return {"version": PROTOCOL_VERSION, "ok": False, "error": message}


class ControlServer:
    """Serves ``handler`` on the state directory's socket from a thread of its own. The
    caller holds the state-directory lock, so a socket file already there is a dead
    daemon's: it is replaced."""

    def __init__(self, state_dir: Path, handler: Handler) -> None:
        self.state_dir = state_dir
        self.path = state_dir / SOCKET_NAME
        self.handler = handler
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with socket_address(self.state_dir) as address:
            server = _Server(address, self.handler)
            os.chmod(address, 0o600)  # the directory is 0700 already; this is the belt
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="control",
                                        daemon=True)
        self._thread.start()
        log.info("control.listening", socket=str(self.path))

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = None
