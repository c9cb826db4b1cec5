"""The systemd user unit, as ``plane-sync init`` writes it and as ``systemd/plane-sync.service``
ships it (a test keeps the two the same): only ``ExecStart=`` and the config's place differ.

systemd starts a unit with a bare environment (no shell profile, no exported
``PLANE_API_KEY``), so what the daemon needs must be in files: the config names an
``api_key_file``, and ``ExecStart=`` names the command by its full path (pipx's
``~/.local/bin``, or a checkout's ``.venv/bin``; ``pip install --user`` is refused on
current Debian and Ubuntu, PEP 668).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

SHIPPED_EXEC = "%h/.local/bin/plane-sync"
UNIT_NAME = "plane-sync.service"

USER_UNIT = """\
# plane-sync as a user service (a desktop or a single user's folders).
#
# `plane-sync init` writes this file with ExecStart= pointing at the plane-sync it was run
# from, and offers to start it. By hand:
#   pipx install /path/to/plane-sync-checkout    (puts plane-sync in ~/.local/bin), or
#   bash scripts/run.sh in the checkout          (puts it in the checkout's .venv/bin), then
#   mkdir -p ~/.config/systemd/user && cp plane-sync.service ~/.config/systemd/user/
#   systemctl --user daemon-reload && systemctl --user enable --now plane-sync
#   loginctl enable-linger "$USER"   # keep it running while you are logged out
#
# systemd passes no shell environment: an exported PLANE_API_KEY is not seen here. Keep the
# key in a file of mode 0600 named by api_key_file in the config (init does that).
# Installed elsewhere (a checkout's .venv)? `systemctl --user edit plane-sync` and set
#   [Service]
#   ExecStart=
#   ExecStart=/path/to/checkout/.venv/bin/plane-sync run
[Unit]
Description=plane-sync: mirror folders into Plane work item attachments
Documentation=https://github.com/plane-sync/plane-sync#readme

# A user manager cannot order itself after system mounts (remote-fs.target): a share that is
# mounted after the daemon started is noticed in the mount table, polled and synced then.

# Give up after 5 quick failures (a crash loop helps nobody).
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start} run
ExecReload=/bin/kill -HUP $MAINPID
Environment=PYTHONUNBUFFERED=1
{environment}\
# The daemon pings every WatchdogSec/2 from its main loop; a hung loop gets restarted.
WatchdogSec=60
TimeoutStopSec=60
Restart=on-failure
RestartSec=10
# 2 = configuration error, 3 = API key rejected: a restart cannot fix either. (An unreachable
# Plane does not end the daemon: it backs off and keeps watching.)
RestartPreventExitStatus=2 3
# The sandboxing (ProtectSystem=strict, read-only folders, ...) is in the server unit: a user
# manager can apply most of it only where unprivileged user namespaces are enabled, and a
# workstation user's own files are what this unit is for.
NoNewPrivileges=yes

[Install]
WantedBy=default.target
"""


def render_user_unit(exec_start: str = SHIPPED_EXEC,
                     environment: Mapping[str, str] | None = None) -> str:
    lines = "".join(f"Environment={_quote(f'{k}={v}')}\n"
                    for k, v in (environment or {}).items())
    return USER_UNIT.format(exec_start=_quote(exec_start), environment=lines)


def _quote(word: str) -> str:
    """systemd splits ExecStart= and Environment= at spaces unless quoted."""
    if any(c in word for c in ' "\\'):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def plane_sync_command() -> str:
    """The full path of the plane-sync being run: the one next to this interpreter (a venv,
    pipx's), else the one on PATH, else this interpreter's module."""
    beside = Path(sys.executable).parent / "plane-sync"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("plane-sync")
    if found:
        return str(Path(found).absolute())
    return f"{sys.executable} -m plane_sync"


def user_unit_dir(env: Mapping[str, str]) -> Path:
    config_home = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(config_home):
        config_home = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(config_home) / "systemd" / "user"
