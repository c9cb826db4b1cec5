"""The daemon on a real network share: sshfs over loopback to a private sshd (see share.py).

- ``server``: a started :class:`SftpServer` (skips the test, saying why, where FUSE, sshd or
  root are missing; ``.ci/run`` installs openssh-server and sshfs).
- ``mount_share(mount_point, hang=False)``: an sshfs mount of the server's export; every one is
  unmounted at teardown, after the server was resumed (a paused server would hold it).
- ``emu``, ``daemon_factory``, ``item``: from tests/e2e_daemon (the daemon as a subprocess).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e_daemon.conftest import DaemonFactory, daemon_factory, emu, item
from tests.e2e_share.share import SftpServer, SshfsMount, unavailable_reason

__all__ = ["daemon_factory", "emu", "item", "mount_share", "server"]

MountShare = Callable[..., SshfsMount]


@pytest.fixture
def server(tmp_path: Path, daemon_factory: DaemonFactory) -> Iterator[SftpServer]:
    # Depends on daemon_factory so that it is torn down first: a daemon blocked on a paused
    # server can only be killed once the server answers again.
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    srv = SftpServer(tmp_path / "server").start()
    yield srv
    srv.resume()
    for daemon in daemon_factory.made:
        daemon.kill()
    srv.stop()


@pytest.fixture
def mount_share(server: SftpServer) -> Iterator[MountShare]:
    made: list[SshfsMount] = []

    def mount(mount_point: Path, **options: object) -> SshfsMount:
        share = SshfsMount(server, mount_point, **options)  # type: ignore[arg-type]
        made.append(share)
        return share.mount()

    yield mount
    server.resume()
    for share in made:
        share.unmount()
