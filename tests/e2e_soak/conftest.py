"""The soak test reuses the daemon-as-subprocess fixtures of ``tests/e2e_daemon``."""

from __future__ import annotations

from tests.e2e_daemon.conftest import daemon_factory, emu

__all__ = ["daemon_factory", "emu"]
