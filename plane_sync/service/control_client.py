"""The client end of the control socket (protocol: :mod:`plane_sync.service.control`).

Every request is bounded by ``timeout`` seconds in all (connect, send, answer): a daemon
that is stopped (SIGSTOP), wedged or swapped out must never hang ``plane-sync status``,
which then falls back to the state database and says the daemon is not answering.
"""

from __future__ import annotations

import errno
import json
import socket
import time
from pathlib import Path
from typing import Any

from plane_sync.errors import PlaneSyncError
from plane_sync.service.control import PROTOCOL_VERSION, encode, read_line, socket_address

DEFAULT_TIMEOUT = 1.0  # status answers within 2 s: interpreter start and database included


class DaemonNotRunning(PlaneSyncError):
    title = "No daemon is running"


class DaemonNotAnswering(PlaneSyncError):
    title = "The daemon does not answer"


class ControlRefused(PlaneSyncError):
    """The daemon answered ``ok: false``."""

    title = "The daemon refused"


def ask(state_dir: Path, op: str, folders: list[str] | None = None, *,
        timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Send one request; the daemon's answer (``ok`` true). Raises DaemonNotRunning,
    DaemonNotAnswering, or ControlRefused with the daemon's reason."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            with socket_address(state_dir) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise DaemonNotRunning(f"no daemon listens in {state_dir}") from None
        except PermissionError:
            raise DaemonNotAnswering(
                f"{state_dir} belongs to another user: run this as the daemon's user (or "
                "root)") from None
        except TimeoutError:
            raise DaemonNotAnswering(f"the daemon in {state_dir} did not accept a "
                                     f"connection within {timeout:g}s") from None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise DaemonNotRunning(f"no daemon listens in {state_dir}") from None
            raise DaemonNotAnswering(f"cannot reach the daemon in {state_dir}: "
                                     f"{exc.strerror or exc}") from None
        try:
            sock.sendall(encode({"version": PROTOCOL_VERSION, "op": op, "folders": folders}))
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            line = read_line(sock, limit=64 * 1024 * 1024)
        except TimeoutError:
            raise DaemonNotAnswering(f"the daemon in {state_dir} did not answer within "
                                     f"{timeout:g}s (stopped or stuck?)") from None
        except (OSError, ValueError) as exc:
            raise DaemonNotAnswering(f"the daemon in {state_dir} broke off: {exc}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(line)
    except ValueError:
        raise DaemonNotAnswering(f"the daemon in {state_dir} gave no answer") from None
    if not isinstance(answer, dict):
        raise DaemonNotAnswering(f"the daemon in {state_dir} gave no answer")
    if not answer.get("ok"):
        raise ControlRefused(str(answer.get("error") or "no reason given"))
    return answer
