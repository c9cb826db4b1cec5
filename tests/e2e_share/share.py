"""A real network share for tests and benchmarks: a private sshd on loopback, sshfs mounts of
its export directory.

- :class:`SftpServer`: ``/usr/sbin/sshd`` with its own host key, config and key login, on a
  free loopback port. Its SFTP subsystem is the stock ``sftp-server`` with logging to a file
  (``-e -l INFO``): every file the server closes is logged with the bytes read from it, which
  is exactly what a client read over the network. :meth:`SftpServer.bytes_read` sums them;
  no strace, nothing counted on our side. :meth:`SftpServer.pause` / :meth:`resume` stop and
  continue the server's session processes (SIGSTOP/SIGCONT): a file server that hangs.
- :class:`SshfsMount`: ``sshfs`` over it, unmounted with ``fusermount -u``. By default with
  ``reconnect`` and ``ServerAliveInterval=1,ServerAliveCountMax=2`` (a stopped server turns
  into I/O errors after about three seconds, the way the README advises); ``hang=True``
  leaves those out, so a stopped server makes every call on the mount block.

:func:`unavailable_reason` says why the suite cannot run here (no FUSE, no sshd, not root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
_CLOSE = re.compile(r'close "(.*)" bytes read (\d+) written (\d+)')


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the sshfs suite runs a private sshd and mounts FUSE, which needs root here"
    missing = [str(p) for p in (SSHD, SFTP_SERVER) if not p.exists()]
    missing += [tool for tool in ("sshfs", "ssh", "ssh-keygen") if shutil.which(tool) is None]
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        missing.append("fusermount")
    if missing:
        return (f"missing {', '.join(missing)} (Debian: apt-get install openssh-server sshfs; "
                ".ci/run installs them)")
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse: FUSE is not available in this environment"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as exc:
        return f"/dev/fuse cannot be opened ({exc.strerror}): FUSE is not available"
    os.close(fd)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry))
    return found


class SftpServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.export = workdir / "export"
        self.log = workdir / "sftp.log"
        self.key = workdir / "client_key"
        self.port = 0
        self.pid: int | None = None
        self.paused: list[int] = []

    def start(self) -> SftpServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.export.mkdir(exist_ok=True)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(self.dir / name)], check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        wrapper = self.dir / "sftp-server.sh"
        wrapper.write_text(f"#!/bin/sh\nexec {SFTP_SERVER} -e -l INFO 2>>{self.log}\n")
        wrapper.chmod(0o755)
        self.port = _free_port()
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\n"
            f"PidFile {self.dir / 'sshd.pid'}\nSubsystem sftp {wrapper}\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation
        subprocess.run([str(SSHD), "-f", str(config), "-E", str(self.dir / "sshd.log")],
                       check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid_file = self.dir / "sshd.pid"
            if pid_file.exists() and pid_file.read_text().strip():
                self.pid = int(pid_file.read_text())
                return self
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.dir / 'sshd.log').read_text()}")

    def stop(self) -> None:
        self.resume()
        if self.pid is not None:
            for child in self._sessions():
                _signal(child, signal.SIGTERM)
            _signal(self.pid, signal.SIGTERM)
            self.pid = None

    def _sessions(self) -> list[int]:
        """The session processes of every connection and their sftp-servers."""
        if self.pid is None:
            return []
        found: list[int] = []
        todo = _children(self.pid)
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(_children(pid))
        return found

    def pause(self) -> None:
        """The file server stops answering (it is alive: connections stay open)."""
        self.paused = self._sessions()
        assert self.paused, "no connection to pause"
        for pid in self.paused:
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.paused:
            _signal(pid, signal.SIGCONT)
        self.paused = []

    def log_mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def bytes_read(self, since: int = 0) -> tuple[int, list[str]]:
        """File bytes the server read since log offset ``since``, and the files read."""
        if not self.log.exists():
            return 0, []
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        total, files = 0, []
        for match in _CLOSE.finditer(text):
            read = int(match.group(2))
            if read:
                total += read
                files.append(match.group(1))
        return total, files


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


class SshfsMount:
    def __init__(self, server: SftpServer, mount_point: Path, *, hang: bool = False,
                 cache_timeout: int = 1) -> None:
        self.server = server
        self.mount_point = mount_point
        self.hang = hang
        self.cache_timeout = cache_timeout

    def options(self) -> str:
        opts = [f"IdentityFile={self.server.key}", "StrictHostKeyChecking=no",
                "UserKnownHostsFile=/dev/null", "reconnect",
                # sshfs keeps names and attributes 20 s by default: another machine's write
                # would take that long to show. Shorter here, so the tests stay short.
                f"dcache_timeout={self.cache_timeout}"]
        if not self.hang:
            opts += ["ServerAliveInterval=1", "ServerAliveCountMax=2"]
        return ",".join(opts)

    def mount(self) -> SshfsMount:
        self.mount_point.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sshfs", "-p", str(self.server.port), "-o", self.options(),
                        f"{pwd.getpwuid(os.geteuid()).pw_name}@127.0.0.1:{self.server.export}",
                        str(self.mount_point)], check=True, timeout=30,
                       stdin=subprocess.DEVNULL)
        return self

    @property
    def mounted(self) -> bool:
        text = Path("/proc/self/mountinfo").read_text()
        return f" {self.mount_point} " in text

    def unmount(self) -> None:
        """``fusermount -u``; if the mount is busy (a poll walking it), lazily (``-z``)."""
        tool = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
        for args in ([tool, "-u"], [tool, "-u", "-z"]):
            if not self.mounted:
                return
            done = subprocess.run([*args, str(self.mount_point)], check=False, timeout=30,
                                  capture_output=True)
            if done.returncode != 0:
                continue
            deadline = time.monotonic() + 5
            while self.mounted and time.monotonic() < deadline:
                time.sleep(0.05)
