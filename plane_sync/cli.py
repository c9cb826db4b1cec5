"""Command line: ``plane-sync <command>``. Maps errors to messages and exit codes.

Exit codes: 0 ok; 1 some files or folders failed; 2 configuration or usage error;
3 Plane unreachable or the API key rejected; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from plane_sync import __version__
from plane_sync.errors import AuthError, ConfigError, PlaneSyncError, PlaneUnreachable
from plane_sync.logs import configure_logging
from plane_sync.runtime import StateDirBusy

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_PLANE = 0, 1, 2, 3

# Commands that need a configuration, and the module whose run(config, args) carries them out.
CONFIG_COMMANDS = {
    "sync": "plane_sync.commands.sync",
    "check": "plane_sync.commands.check",
    "status": "plane_sync.commands.status",
    "run": "plane_sync.commands.run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plane-sync",
        description="Mirror folders into attachments of Plane work items.")
    parser.add_argument("--version", action="version", version=f"plane-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-c", "--config", metavar="FILE",
                       help="config file (default: $PLANE_SYNC_CONFIG, "
                            "$XDG_CONFIG_HOME/plane-sync/config.yaml, "
                            "/etc/plane-sync/config.yaml)")
        _log_options(p)
        return p

    p = with_config("sync", "one pass over every folder, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be done; send no write request")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    with_config("check", "validate the config, reach Plane, resolve every work item")
    p = with_config("status", "show what each folder's last sync found")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    with_config("run", "run as a daemon: watch the folders and upload changes")
    p = sub.add_parser("demo", help="try plane-sync on an embedded Plane emulator",
                       description="Start the Plane emulator on loopback, make a demo "
                                   "folder and watch it; drop files in, Ctrl-C stops.")
    p.add_argument("--folder", metavar="DIR", help="demo folder (default: a new temp dir)")
    _log_options(p)
    sub.add_parser("emulator", help="serve the Plane emulator (see: emulator --help)",
                   add_help=False)
    return parser


def _log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", choices=["auto", "console", "json"])


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "emulator":
        from plane_sync.emulator.cli import main as emulator_main

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"plane-sync: {exc.title}{' in ' + exc.source if exc.source else ''}:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
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
    except KeyboardInterrupt:
        print("plane-sync: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from plane_sync.commands.demo import run as run_demo

        return run_demo(args)
    from plane_sync.config import find_config_path, load_config

    config = load_config(find_config_path(args.config))
    for warning in config.warnings:
        print(f"plane-sync: warning: {warning}", file=sys.stderr)
    # The one-shot commands print their own report; their log shows only what went wrong.
    default_level = config.log.level if args.command == "run" else "warning"
    configure_logging(args.log_level or default_level, args.log_format or config.log.format,
                      secrets=(config.plane.api_key,))
    module = importlib.import_module(CONFIG_COMMANDS[args.command])
    code: int = module.run(config, args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
