"""``plane-sync init``: from nothing to a checked config, a key file and (if wanted) a running
user service. The questions: :mod:`plane_sync.commands.init_flow`; the unit:
:mod:`plane_sync.service.units`.

What it writes: the config (mode 0600, default ``~/.config/plane-sync/config.yaml``) naming
an ``api_key_file``; the key file (0600, beside the config) unless ``--api-key-file`` named
one, which is then used where it is. Then it loads the written config as ``check`` would, so
what it leaves behind is known to parse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from plane_sync.commands.init_flow import Asker, MissingAnswer, read_key_file
from plane_sync.config.load import find_config_path, load_config
from plane_sync.config.values import parse_subfolder_name
from plane_sync.core.display import visible
from plane_sync.errors import (
    AuthError,
    ConfigError,
    NotFound,
    PermissionDenied,
    PlaneError,
    PlaneUnreachable,
)
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.service.units import (
    UNIT_NAME,
    plane_sync_command,
    render_user_unit,
    user_unit_dir,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KEY_FILE_NAME = "api-key"
QUICK_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=1.0)  # a person is waiting


def run(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and not args.non_interactive
    asker = Asker(interactive)
    config_path = _config_path(getattr(args, "config", None))
    if config_path.exists() and not args.force and not asker.yes(
            f"{config_path} exists. Replace it?", default=False):
        print(f"plane-sync: {config_path} exists; keep it, or pass --force to replace it "
              "(-c FILE writes another)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args, asker, config_path)
    except MissingAnswer as exc:
        print(f"plane-sync: {exc}; init without a terminal needs --url, --api-key-file (or "
              "$PLANE_API_KEY), --workspace, --folder and --work-item", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, asker: Asker, config_path: Path) -> int:
    if asker.interactive:
        print(f"Setting up plane-sync; the config goes to {config_path}. Ctrl-C stops.\n")
    key = read_key_file(args.api_key_file) if args.api_key_file else \
        os.environ.get("PLANE_API_KEY", "").strip() or None
    url, key, who = _connect(asker, args.url, key)
    print(f"  Plane {visible(url)}: API key accepted (user {visible(who)})")
    workspace, projects = _workspace(asker, args.workspace, url, key)
    print(f"  workspace {visible(workspace)}: "
          + (visible(", ".join(projects)) or "no project is visible"))
    folder = Path(os.path.expanduser(asker.text(
        "Folder to sync (made if missing)", args.folder, option="--folder",
        default=str(Path.home() / "Plane")))).absolute()
    target = _work_item(asker, args.work_item, folder, url, key, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    key_file = _key_file(args.api_key_file, key, config_path)
    _write_private(config_path, _config_text(url, workspace, key_file, folder, target))
    for warning in load_config(config_path).warnings:  # it parses, as check would read it
        print(f"plane-sync: warning: {warning}", file=sys.stderr)
    print(f"\nWrote {config_path} (mode 0600); the API key is in {key_file} (mode 0600).")
    code = _offer_unit(asker, args.unit, config_path)
    print("Next: plane-sync check, then plane-sync sync --dry-run"
          + ("" if code == EXIT_OK and args.unit == "start" else
             "; or plane-sync run (the daemon, in the foreground)"))
    return code


def _config_path(given: str | None) -> Path:
    if given:
        return Path(os.path.expanduser(given)).absolute()
    try:  # the first place find_config_path looks at without -c or $PLANE_SYNC_CONFIG
        return find_config_path(None, {k: v for k, v in os.environ.items()
                                       if k != "PLANE_SYNC_CONFIG"}, system_path=Path("/-"))
    except ConfigError:
        config_home = os.environ.get("XDG_CONFIG_HOME", "")
        if not os.path.isabs(config_home):
            config_home = str(Path.home() / ".config")
        return Path(config_home) / "plane-sync" / "config.yaml"


def _normal_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlaneUnreachable(f"{raw!r} is not an http(s) address, e.g. "
                               "https://plane.example.com")
    path = parts.path.rstrip("/").removesuffix("/api/v1").removesuffix("/api")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _client(url: str, key: str, workspace: str = "-") -> PlaneClient:
    return PlaneClient(url, key, workspace, timeout=15.0, retry=QUICK_RETRY)


def _connect(asker: Asker, url_given: str | None,
             key: str | None) -> tuple[str, str, str]:
    """(url, key, who): ask until Plane answers and accepts the key."""
    url = None
    while True:
        if url is None:
            url = _normal_url(asker.text("Plane address (e.g. https://plane.example.com)",
                                         url_given, option="--url"))
            url_given = None
        if key is None:
            key = asker.secret("API key (Plane: Profile settings > Personal access tokens; "
                               "input hidden)")
        try:
            with _client(url, key) as client:
                me = client.me()
            return url, key, str(me.get("display_name") or me.get("email") or me.get("id"))
        except PlaneUnreachable as exc:
            if not asker.interactive:
                raise
            print(f"  cannot reach {visible(url)}: {visible(exc.message)}")
            url = None
        except AuthError as exc:
            if not asker.interactive:
                raise
            print(f"  {visible(exc.message)}")
            key = None


def _workspace(asker: Asker, given: str | None, url: str, key: str) -> tuple[str, list[str]]:
    while True:
        workspace = asker.text("Workspace (the first part of the path in Plane's address)",
                               given, option="--workspace").strip("/ ")
        given = None
        try:
            with _client(url, key, workspace) as client:
                projects = client.list_projects()
            return workspace, [f"{p.identifier} ({p.name})" for p in projects]
        except (PermissionDenied, NotFound):
            message = (f"workspace {workspace!r} does not exist, or the key's user is not a "
                       "member of it")
            if not asker.interactive:
                raise PermissionDenied(message) from None
            print(f"  {visible(message)}")


def _work_item(asker: Asker, given: str | None, folder: Path, url: str, key: str,
               workspace: str) -> str:
    guess = parse_subfolder_name(folder.name)  # "PROJ-12 notes" -> PROJ-12
    while True:
        answer = asker.text(f"Work item for {folder} (e.g. PROJ-12), or \"subfolders\" (each "
                            "subfolder named \"PROJ-42 anything\" goes to that work item)",
                            given, option="--work-item", default=guess).strip()
        given = None
        if answer.lower() == "subfolders":
            return "subfolders"
        try:
            with _client(url, key, workspace) as client:
                item = client.resolve_identifier(answer)
            print(f"  {item.label}: {visible(item.name)}")
            return item.label
        except (AuthError, PlaneUnreachable):
            raise
        except PlaneError as exc:
            if not asker.interactive:
                raise
            print(f"  {visible(exc.message)}")


def _key_file(given: str | None, key: str, config_path: Path) -> Path:
    if given and given != "-":
        return Path(os.path.expanduser(given)).absolute()  # used where it is
    path = config_path.parent / KEY_FILE_NAME
    _write_private(path, key + "\n")
    return path


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only, even where the file existed looser."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _config_text(url: str, workspace: str, key_file: Path, folder: Path, target: str) -> str:
    q = json.dumps  # a JSON string is a YAML string: no quoting surprises in paths
    mapping = ("work_items: subfolders" if target == "subfolders"
               else f"work_item: {q(target)}")
    return f"""\
# Written by plane-sync init on {time.strftime("%Y-%m-%d")}. Every key, with comments:
# config.example.yaml in the plane-sync sources. Check it with: plane-sync check
plane:
  url: {q(url)}
  api_key_file: {q(str(key_file))}  # mode 0600; systemd passes no shell variables
  workspace: {q(workspace)}
folders:
  - path: {q(str(folder))}
    {mapping}
"""


def _offer_unit(asker: Asker, choice: str | None, config_path: Path) -> int:
    if choice is None:
        if not asker.interactive or not asker.yes(
                "Install the systemd user unit, so plane-sync runs in the background?",
                default=True):
            return EXIT_OK
        choice = "start" if asker.yes("Start it now?", default=True) else "install"
    if choice == "no":
        return EXIT_OK
    unit_dir = user_unit_dir(os.environ)
    environment = {}
    if config_path != _config_path(None):
        environment["PLANE_SYNC_CONFIG"] = str(config_path)
    unit = unit_dir / UNIT_NAME
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit.write_text(render_user_unit(plane_sync_command(), environment), encoding="utf-8")
    print(f"Wrote {unit} (ExecStart: {plane_sync_command()} run).")
    steps = ["systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT_NAME}"]
    if choice == "install":
        print("Start it with: " + " && ".join(steps))
        return EXIT_OK
    for step in steps:
        try:
            done = subprocess.run(step.split(), capture_output=True, text=True, timeout=60,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            done = subprocess.CompletedProcess(step.split(), 1, "", str(exc))
        if done.returncode != 0:
            print(f"plane-sync: {step} failed: {done.stderr.strip() or done.returncode}\n"
                  f"  the unit is installed; start it once a user session runs: "
                  + " && ".join(steps), file=sys.stderr)
            return EXIT_FAILED
    print("Started: systemctl --user status plane-sync; logs: journalctl --user -u "
          "plane-sync. To keep it running while logged out: loginctl enable-linger")
    return EXIT_OK
