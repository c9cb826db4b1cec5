"""The command line's grammar and its help: every command, its options and what its exit
status means. ``-c FILE`` is accepted before the command and after it; an unknown option
is reported with the usage of the command it was given to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from plane_sync import __version__

EXIT_CODES_HELP = """exit status:
  0  done: every folder in sync (check: every folder maps to a work item)
  1  some files or folders failed, or deletions were held back; each named with its reason
  2  configuration or usage error, or another plane-sync uses the state directory
  3  Plane unreachable, or the API key rejected
  130 interrupted (Ctrl-C)"""

CONFIG_HELP = ("config file (default: the first of $PLANE_SYNC_CONFIG, "
               "$XDG_CONFIG_HOME/plane-sync/config.yaml i.e. ~/.config/plane-sync/config.yaml, "
               "/etc/plane-sync/config.yaml)")

MAIN_EPILOG = f"""first steps:
  plane-sync demo                 try it on a built-in Plane emulator, no account needed
  plane-sync init                 ask for URL, key and a folder; write the config and key file
    (or by hand: cp config.example.yaml ~/.config/plane-sync/config.yaml, then edit it)
  plane-sync check                reach Plane, check the key, show folder -> work item
  plane-sync sync --dry-run       show what would be uploaded, change nothing
  plane-sync sync                 upload once; or run the daemon: plane-sync run
  plane-sync status               what the daemon does now (pause, resume, rescan steer it)

{EXIT_CODES_HELP}

Help on one command: plane-sync COMMAND --help"""

CONTROL_EXIT = """exit status:
  0  done (without a daemon, pause and resume are kept for its next start)
  1  the daemon did not answer or refused, with its reason (rescan: no daemon runs)
  2  configuration or usage error (a FOLDER that is not configured)"""

# name: (one-line help, description, exit status epilog or None for the common one)
COMMAND_HELP: dict[str, tuple[str, str, str | None]] = {
    "check": ("validate the config, reach Plane, resolve every work item",
              "Validate the config, reach Plane, check the API key and the workspace, "
              "resolve every folder's work item and print which folder goes where. "
              "Sends no write request.",
              """exit status:
  0  every folder maps to a work item and exists (unmapped subfolders are only listed)
  1  a work item cannot be found or a folder is missing
  2  configuration error
  3  Plane unreachable, or the API key rejected"""),
    "sync": ("one pass over every folder, then exit",
             "Sync every folder once: upload new and changed files, then exit. While the "
             "daemon runs on the same state directory a sync is refused (the daemon already "
             "syncs), except --dry-run, which writes nothing, and --now, which asks the "
             "daemon to rescan every folder.",
             """exit status:
  0  every folder in sync (--dry-run: nothing would fail; --now: the daemon was asked)
  1  some files or folders failed, or deletions were held back; each named with its reason
  2  configuration or usage error, or the daemon holds the state directory
  3  Plane unreachable, or the API key rejected
  130 interrupted (Ctrl-C): what was uploaded stays, the next sync does the rest"""),
    "status": ("show what the daemon does now and what each folder's last sync found",
               "Show the running daemon's live state (the upload in flight, the queue and "
               "its ETA, the rate budget, pauses, each folder's last complete pass, waiting "
               "files and held deletions) and, from the state database, each folder's "
               "failed and skipped files with reasons. Without a daemon, or one that does "
               "not answer within a second, the database alone. Needs no API key, asks nothing "
               "of Plane and touches no folder.",
               """exit status:
  0  the status was shown (failed files are listed, not signalled in the status)
  2  configuration error, or a state directory that cannot be read"""),
    "verify": ("check that each work item holds exactly its folder (changes nothing)",
               "Compare each folder with its work item, independently of what the last sync "
               "recorded: every file is read and hashed again and the attachment list fetched "
               "afresh. Reports every difference: missing, stale (another version attached), "
               "extra (ours, the file gone or replaced), duplicate, pending. --deep also "
               "downloads every attachment and compares its bytes. Runs beside the daemon.",
               """exit status:
  0  every folder checked is exactly its work item
  1  something differs, or a folder could not be checked
  2  configuration or usage error
  3  Plane unreachable, or the API key rejected"""),
    "run": ("run as a daemon: watch the folders and upload changes",
            "Run in the foreground: sync every folder, then watch for changes and upload "
            "them once they have settled; a full rescan runs every rescan_interval. "
            "SIGTERM or Ctrl-C stops it cleanly (the upload in flight gets 30 s); SIGHUP "
            "re-reads the config. plane-sync status, pause, resume and rescan talk to it "
            "over a socket in the state directory.",
            """exit status:
  0  stopped by SIGTERM (systemctl stop)
  2  configuration error, or another plane-sync uses the state directory
  3  the API key rejected (an unreachable Plane does not end the daemon: it backs off)
  130 stopped by Ctrl-C (SIGINT); what was uploaded stays, the next start does the rest"""),
    "pause": ("pause uploads of the running daemon (every folder, or those named)",
              "Pause the daemon: the upload in flight finishes, no new one starts. The "
              "folders stay watched; the pause survives a restart and shows in status.",
              CONTROL_EXIT),
    "resume": ("resume paused folders (every folder, or those named); they are rescanned",
               "Resume paused folders; each is rescanned at once, so what changed "
               "meanwhile is uploaded.", CONTROL_EXIT),
    "rescan": ("ask the running daemon to rescan now (every folder, or those named)",
               "Ask the running daemon to rescan folders now, instead of at the next "
               "rescan_interval.", CONTROL_EXIT),
}


class Parser(argparse.ArgumentParser):
    """Reports an unknown option with the usage of the command it was given to."""

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            owner = self._commands.get(command, self) if command else self
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    @property
    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}


def build_parser() -> Parser:
    parser = Parser(prog="plane-sync",
                    description="Mirror folders into attachments of Plane work items.",
                    epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"plane-sync {__version__}")
    parser.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str) -> argparse.ArgumentParser:
        short, description, epilog = COMMAND_HELP[name]
        p = sub.add_parser(name, help=short, description=description,
                           epilog=epilog or EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        # SUPPRESS: a -c given before the command is not overwritten by this default.
        p.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP,
                       default=argparse.SUPPRESS)
        _log_options(p)
        return p

    command("check")
    p = command("sync")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be uploaded or deleted; change nothing (works "
                        "while the daemon runs)")
    p.add_argument("--now", action="store_true",
                   help="when the daemon runs, ask it to rescan every folder now (else sync)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON document on stdout")
    p.add_argument("--allow-deletes", nargs="?", const="*", action="append",
                   metavar="FOLDER",
                   help="for this run only, delete attachments of gone files even where more "
                        "than half of a folder's files are gone (the guard against unmounted "
                        "shares); every folder, or only FOLDER (a path or work item)")
    p = command("status")
    p.add_argument("--json", action="store_true",
                   help="print the status as one JSON document on stdout")
    p = command("verify")
    p.add_argument("folder", nargs="?", metavar="FOLDER",
                   help="only this folder (a configured path, or its work item)")
    p.add_argument("--deep", action="store_true",
                   help="also download every attachment and compare its bytes")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON document on stdout")
    command("run")
    for name in ("pause", "resume", "rescan"):
        p = command(name)
        p.add_argument("folders", nargs="*", metavar="FOLDER",
                       help="a configured folder's path (default: every folder)")
    _init_parser(sub)
    p = sub.add_parser(
        "demo", help="try plane-sync on a built-in Plane emulator (no account needed)",
        description="Start the Plane emulator on loopback, make a demo folder with a few "
                    "files and watch it: files dropped in are uploaded. Ctrl-C stops and "
                    "lists the work item's attachments. Needs no config and no network.",
        epilog="exit status: 0 after Ctrl-C or SIGTERM (the demo's way to end)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", metavar="DIR",
                   help="the folder to watch (default: a new folder under the temp dir)")
    _log_options(p)
    sub.add_parser("emulator", help="serve the Plane emulator for tests and scripts "
                                    "(see: plane-sync emulator --help)",
                   add_help=False)
    return parser


def _init_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    from plane_sync.commands.init_flow import INIT_DESCRIPTION, INIT_EPILOG

    p = sub.add_parser("init", help="set up: ask for URL, key and a folder; write the config",
                       description=INIT_DESCRIPTION, epilog=INIT_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="where to write the config (default: "
                        "~/.config/plane-sync/config.yaml)")
    p.add_argument("--url", help="Plane's address, e.g. https://plane.example.com")
    p.add_argument("--api-key-file", metavar="FILE",
                   help="read the API key from FILE (- for stdin); the config names a key "
                        "file of mode 0600 next to it")
    p.add_argument("--workspace", metavar="SLUG", help="the workspace (as in Plane's address)")
    p.add_argument("--folder", metavar="DIR", help="the folder to sync (made if missing)")
    p.add_argument("--work-item", metavar="ID",
                   help='its work item, e.g. PROJ-12, or "subfolders" (each subfolder '
                        'named "PROJ-42 anything" goes to that work item)')
    p.add_argument("--unit", choices=["install", "start", "no"], default=None,
                   help="the systemd user unit: install it, install and start it, or not "
                        "(asked when interactive; default for scripts: no)")
    p.add_argument("--force", action="store_true", help="replace an existing config")
    p.add_argument("--non-interactive", action="store_true",
                   help="never ask; fail (exit 2) naming what is missing")


def _log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log detail on stderr (default: the config's log.level for run; "
                        "warning for the others)")
    p.add_argument("--log-format", choices=["auto", "console", "json"],
                   help="auto: readable on a terminal, JSON lines otherwise")
