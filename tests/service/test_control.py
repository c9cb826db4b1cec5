"""The control socket itself, in process over a real Unix socket: who may connect, what a
malformed or newer request gets, and a state directory deeper than a socket path may be."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plane_sync.service.control import (
    PROTOCOL_VERSION,
    ControlServer,
    encode,
    read_line,
    socket_address,
)
from plane_sync.service.control_client import (
    ControlRefused,
    DaemonNotAnswering,
    DaemonNotRunning,
    ask,
)


def echo(request: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "op": request["op"], "folders": request.get("folders")}


@pytest.fixture
def deep_state_dir(tmp_path: Path) -> Path:
    path = tmp_path / ("d" * 60) / ("e" * 60)  # well past the 107 bytes of sun_path
    path.mkdir(parents=True, mode=0o700)
    return path


@pytest.fixture
def server(deep_state_dir: Path) -> Iterator[ControlServer]:
    control = ControlServer(deep_state_dir, echo)
    control.start()
    yield control
    control.stop()


def raw(state_dir: Path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock, socket_address(state_dir) as address:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall(payload)
        return read_line(sock)


def test_a_deep_state_directory_works_and_the_socket_is_owner_only(
        server: ControlServer, deep_state_dir: Path) -> None:
    assert len(os.fsencode(server.path)) > 107
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
    assert ask(deep_state_dir, "pause", ["/x"]) == {
        "version": PROTOCOL_VERSION, "ok": True, "op": "pause", "folders": ["/x"]}


def test_a_newer_or_malformed_request_gets_a_reason(server: ControlServer,
                                                     deep_state_dir: Path) -> None:
    import json

    newer = json.loads(raw(deep_state_dir, encode({"version": 99, "op": "status"})))
    assert newer["ok"] is False and "speaks 1" in newer["error"]
    garbage = json.loads(raw(deep_state_dir, b"hello\n"))
    assert garbage == {"version": 1, "ok": False, "error": "not a JSON request"}


def test_no_daemon_and_a_stopped_daemon_are_told_apart(deep_state_dir: Path) -> None:
    with pytest.raises(DaemonNotRunning):
        ask(deep_state_dir, "status")
    # A socket that accepts (the kernel's backlog) but is never served: a SIGSTOPped daemon.
    with socket.socket(socket.AF_UNIX) as listener, socket_address(deep_state_dir) as address:
        listener.bind(address)
        listener.listen(1)
        with pytest.raises(DaemonNotAnswering, match=r"did not answer within 0\.3s"):
            ask(deep_state_dir, "status", timeout=0.3)


def test_a_refusal_carries_the_daemons_reason(deep_state_dir: Path) -> None:
    control = ControlServer(deep_state_dir, lambda r: {"ok": False, "error": "paused: /a"})
    control.start()
    try:
        with pytest.raises(ControlRefused, match="paused: /a"):
            ask(deep_state_dir, "rescan", ["/a"])
    finally:
        control.stop()
    assert not control.path.exists()  # the socket goes with the daemon


@pytest.fixture
def open_state_dir() -> Iterator[Path]:
    """A state directory anyone could reach (under /tmp itself, 0755): what is left to keep
    another user out is the credential check."""
    path = Path(tempfile.mkdtemp(prefix="plane-sync-ctl-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_another_user_is_refused_even_through_an_open_socket(open_state_dir: Path) -> None:
    control = ControlServer(open_state_dir, echo)
    control.start()
    try:
        control.path.chmod(0o666)  # undo the socket's own protection too
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: become nobody, ask, report the answer through the pipe
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                os.write(write_end, raw(open_state_dir, encode({"version": 1, "op": "status"})))
            finally:
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 4096)
        os.close(read_end)
        os.waitpid(pid, 0)
    finally:
        control.stop()
    assert b'"ok":false' in answer and b"user 65534 may not control this daemon" in answer
