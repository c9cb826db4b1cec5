"""Command line: ``plane-sync <command>``. Maps errors to messages and exit codes.

Exit codes: 0 ok; 1 some files or folders failed; 2 configuration or usage error;
3 Plane unreachable or the API key rejected; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from plane_sync import __version__
from plane_sync.errors import AuthError, ConfigError, PlaneSyncError, PlaneUnreachable
from plane_sync.service.logs import configure_logging
from plane_sync.service.runtime import StateDirBusy

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_PLANE = 0, 1, 2, 3

# Commands that need a configuration, and the module whose run(config, args) carries them out.
CONFIG_COMMANDS = {
    "sync": "plane_sync.commands.sync",
    "check": "plane_sync.commands.check",
    "status": "plane_sync.commands.status",
    "run": "plane_sync.commands.run",
}


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
  cp config.example.yaml ~/.config/plane-sync/config.yaml   then edit url, workspace, folders
  export PLANE_API_KEY=plane_api_...   (Plane: Profile settings > Personal access tokens)
  plane-sync check                reach Plane, check the key, show folder -> work item
  plane-sync sync --dry-run       show what would be uploaded, change nothing
  plane-sync sync                 upload once; or run the daemon: plane-sync run

{EXIT_CODES_HELP}

Help on one command: plane-sync COMMAND --help"""

# (name, one-line help, longer description, exit status epilog or None for the common one)
_CONFIG_COMMAND_HELP = {
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
             "Sync every folder once: upload new and changed files, then exit. "
             "Refused (exit 2) while the daemon runs on the same state directory: "
             "the daemon already syncs.",
             None),
    "status": ("show what each folder's last sync found (works while the daemon runs)",
               "Show, from the state database, each folder's last sync: files in sync, "
               "pending, failed and skipped with reasons; and whether the daemon runs. "
               "Asks nothing of Plane.",
               """exit status:
  0  the status was shown (failed files are listed, not signalled in the status)
  2  configuration error"""),
    "run": ("run as a daemon: watch the folders and upload changes",
            "Run in the foreground: sync every folder, then watch for changes and upload "
            "them once they have settled; a full rescan runs every rescan_interval. "
            "Stops cleanly on Ctrl-C or SIGTERM; SIGHUP re-reads the config.",
            None),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plane-sync",
        description="Mirror folders into attachments of Plane work items.",
        epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"plane-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str) -> argparse.ArgumentParser:
        short, description, epilog = _CONFIG_COMMAND_HELP[name]
        p = sub.add_parser(name, help=short, description=description,
                           epilog=epilog or EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
        _log_options(p)
        return p

    p = with_config("check")
    p = with_config("sync")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be uploaded or deleted; change nothing in Plane")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON document on stdout")
    p = with_config("status")
    p.add_argument("--json", action="store_true",
                   help="print the status as one JSON document on stdout")
    with_config("run")
    p = sub.add_parser(
        "demo", help="try plane-sync on a built-in Plane emulator (no account needed)",
        description="Start the Plane emulator on loopback, make a demo folder with a few "
                    "files and watch it: files dropped in are uploaded. Ctrl-C stops and "
                    "lists the work item's attachments. Needs no config and no network.",
        epilog="exit status: 0 after Ctrl-C or SIGTERM",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", metavar="DIR",
                   help="the folder to watch (default: a new folder under the temp dir)")
    _log_options(p)
    sub.add_parser("emulator", help="serve the Plane emulator for tests and scripts "
                                    "(see: plane-sync emulator --help)",
                   add_help=False)
    return parser


def _log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log detail on stderr (default: the config's log.level for run; "
                        "warning for the others)")
    p.add_argument("--log-format", choices=["auto", "console", "json"],
                   help="auto: readable on a terminal, JSON lines otherwise")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "emulator":
        from plane_sync.emulator.cli import main as emulator_main

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # inside the try: a reader that went away is handled below
        return code
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    except (AuthError, PlaneUnreachable) as exc:
        print(f"plane-sync: {exc}", file=sys.stderr)
        return EXIT_PLANE
    except StateDirBusy as exc:
        print(f"plane-sync: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except PlaneSyncError as exc:
        print(f"plane-sync: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the machine's fault, not a bug: no traceback
        if isinstance(exc, BrokenPipeError):
            return _stdout_gone()
        where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        print(f"plane-sync: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("plane-sync: interrupted", file=sys.stderr)
        return 130


def _stdout_gone() -> int:
    """stdout was closed early (``plane-sync status | head``): not an error of ours. Point
    stdout at /dev/null so that the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _print_config_error(exc: ConfigError) -> None:
    """One line for one problem; a heading and a list for several."""
    # Only the config file search raises without a source: nothing was found to be invalid.
    heading = f"{exc.title} in {exc.source}" if exc.source else "No configuration file"
    if len(exc.problems) == 1:
        print(f"plane-sync: {heading}: {exc.problems[0]}", file=sys.stderr)
        return
    print(f"plane-sync: {heading}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from plane_sync.commands.demo import run as run_demo

        return run_demo(args)
    from plane_sync.config.load import find_config_path, load_config

    # status must answer while a share hangs: it never touches the folders.
    config = load_config(find_config_path(args.config), touch_folders=args.command != "status")
    for warning in config.warnings:
        print(f"plane-sync: warning: {warning}", file=sys.stderr)
    # The one-shot commands print their own report; their log shows only what went wrong.
    default_level = config.log.level if args.command == "run" else "warning"
    configure_logging(args.log_level or default_level, args.log_format or config.log.format,
                      secrets=(config.plane.api_key,))
    module = importlib.import_module(CONFIG_COMMANDS[args.command])
    try:
        code: int = module.run(config, args)
    except OSError as exc:
        if exc.filename is None or not _related(Path(os.fsdecode(exc.filename)),
                                                config.state_dir):
            raise
        raise ConfigError([f"state_dir: cannot use {config.state_dir}: {exc.strerror} "
                           f"({os.fsdecode(exc.filename)})"], source=str(config.source)) from None
    return code


def _related(path: Path, state_dir: Path) -> bool:
    """``path`` is the state directory, inside it, or one of its parents."""
    return path == state_dir or path.is_relative_to(state_dir) or state_dir.is_relative_to(path)


if __name__ == "__main__":
    raise SystemExit(main())
