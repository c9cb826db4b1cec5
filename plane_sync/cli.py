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

from plane_sync.commands.parser import build_parser
from plane_sync.core.display import url_userinfo, visible
from plane_sync.errors import AuthError, ConfigError, PlaneSyncError, PlaneUnreachable
from plane_sync.service.logs import configure_logging
from plane_sync.service.runtime import StateDirBusy

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_PLANE = 0, 1, 2, 3

# Commands that need a configuration, and the module whose run(config, args) carries them out.
CONFIG_COMMANDS = {
    "sync": "plane_sync.commands.sync",
    "check": "plane_sync.commands.check",
    "run": "plane_sync.commands.run",
    "verify": "plane_sync.commands.verify",
}
# Commands that read only where the state is (no API key, no network, no folder), and the
# module whose run(args) carries them out.
STATE_COMMANDS = {
    "status": "plane_sync.commands.status",
    "pause": "plane_sync.commands.control",
    "resume": "plane_sync.commands.control",
    "rescan": "plane_sync.commands.control",
}

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "emulator":
        from plane_sync.emulator.cli import main as emulator_main

        return emulator_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:  # bare `plane-sync`: what it can do, not an error
        parser.print_help()
        return EXIT_OK
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # inside the try: a reader that went away is handled below
        return code
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    except (AuthError, PlaneUnreachable) as exc:
        _print_error(exc)
        return EXIT_PLANE
    except StateDirBusy as exc:
        _print_error(exc)
        return EXIT_CONFIG
    except PlaneSyncError as exc:
        _print_error(exc)
        return EXIT_FAILED
    except OSError as exc:  # the machine's fault, not a bug: no traceback
        if isinstance(exc, BrokenPipeError):
            return _stdout_gone()
        where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        _print_error(f"{exc.strerror or exc}{where}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("plane-sync: interrupted", file=sys.stderr)
        return 130


def _print_error(error: object) -> None:
    """Errors carry file names and server text: shown with control and bidi characters
    escaped (our own line breaks stay)."""
    print(f"plane-sync: {visible(error, keep_newlines=True)}", file=sys.stderr)


def _stdout_gone() -> int:
    """stdout was closed early (``plane-sync status | head``): not an error of ours. Point
    stdout at /dev/null so that the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _print_config_error(exc: ConfigError) -> None:
    """One line for one problem; a heading and a list for several."""
    # Only the config file search raises without a source: nothing was found to be invalid.
    heading = (f"{exc.title} in {visible(exc.source)}" if exc.source
               else "No configuration file")
    if len(exc.problems) == 1:
        print(f"plane-sync: {heading}: {visible(exc.problems[0])}", file=sys.stderr)
        return
    print(f"plane-sync: {heading}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {visible(problem)}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from plane_sync.commands.demo import run as run_demo

        return run_demo(args)
    if args.command == "init":
        from plane_sync.commands.init import run as run_init

        configure_logging("warning", "auto")  # the questions are the output
        return run_init(args)
    if args.command in STATE_COMMANDS:
        configure_logging(args.log_level or "warning", args.log_format or "auto")
        code: int = importlib.import_module(STATE_COMMANDS[args.command]).run(args)
        return code
    if args.command == "sync" and args.now:
        from plane_sync.commands.control import ask_rescan

        asked = ask_rescan(args)
        if asked is not None:
            return asked
        args.command = "sync"  # no daemon: an ordinary sync
    from plane_sync.config.load import find_config_path, load_config

    # status must answer while a share hangs: it never touches the folders.
    config = load_config(find_config_path(args.config), touch_folders=args.command != "status")
    for warning in config.warnings:
        print(f"plane-sync: warning: {visible(warning)}", file=sys.stderr)
    # The one-shot commands print their own report; their log shows only what went wrong.
    default_level = config.log.level if args.command == "run" else "warning"
    secrets = (config.plane.api_key, url_userinfo(config.plane.url) or "")
    configure_logging(args.log_level or default_level, args.log_format or config.log.format,
                      secrets=secrets)
    module = importlib.import_module(CONFIG_COMMANDS[args.command])
    try:
        code = module.run(config, args)
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
