"""sd_notify(3) without a dependency: one datagram per state change to ``$NOTIFY_SOCKET``.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the daemon calls these
unconditionally. The unit uses ``Type=notify`` and ``WatchdogSec=``: send :meth:`Notifier.ready`
once the folders are armed and :meth:`Notifier.watchdog` every :meth:`watchdog_interval` seconds
from the main loop (not from a helper thread: a hung loop must miss its ping).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, address: str | None) -> None:
        # "@name" is an abstract socket: its address starts with a NUL byte.
        self._address = None if not address else (
            "\0" + address[1:] if address.startswith("@") else address)
        self._socket: socket.socket | None = None
        self._watchdog_usec: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET"))
        pid = env.get("WATCHDOG_PID")
        usec = env.get("WATCHDOG_USEC")
        if usec and (not pid or pid == str(os.getpid())):
            with contextlib.suppress(ValueError):
                notifier._watchdog_usec = int(usec)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WATCHDOG_USEC), or None when not asked."""
        if not self._watchdog_usec or self._watchdog_usec <= 0:
            return None
        return self._watchdog_usec / 1e6 / 2

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines; False (never an exception) when it could not be sent."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            log.warning("sdnotify.failed", error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 (Type=notify-reload).
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
