"""The systemd watchdog is fed while the worker shows progress, and starved when it stalls."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from plane_sync.remote.storage import FileBody
from plane_sync.service.heartbeat import Heartbeat
from plane_sync.service.sdnotify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(0.05)
    yield sock, path
    sock.close()


def _drain(sock: socket.socket) -> list[str]:
    got: list[str] = []
    while True:
        try:
            got.extend(sock.recv(4096).decode().splitlines())
        except TimeoutError:
            return got


def test_heartbeat_feeds_the_watchdog_only_while_the_worker_lives(
        notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    stop = threading.Event()
    heartbeat = Heartbeat(notifier, stop, stall_limit=0.4)
    with capture_logs() as logs:
        heartbeat.start()
        try:
            for _ in range(6):  # a worker making progress (a chunk sent, a file done...)
                heartbeat.touch()
                time.sleep(0.1)
            alive = _drain(sock)
            time.sleep(1.0)  # then nothing: a hang
            _drain(sock)  # pings sent just before the stall limit ran out
            time.sleep(0.3)
            stalled = _drain(sock)
        finally:
            stop.set()
            heartbeat.join()
            notifier.close()
    assert alive.count("WATCHDOG=1") >= 4
    assert "WATCHDOG=1" not in stalled
    assert [e["event"] for e in logs].count("daemon.stalled") == 1


def test_file_body_reports_every_chunk_sent() -> None:
    data = b"x" * (200 * 1024 + 7)
    chunks: list[int] = []
    body = FileBody({"key": "k"}, io.BytesIO(data), filename="a", content_type="text/plain",
                    size=len(data), on_chunk=chunks.append)
    b"".join(body)
    assert sum(chunks) == len(data) and len(chunks) > 1
