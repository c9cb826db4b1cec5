"""Command line: ``plane-sync <command>``. Maps errors to messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "emulator":
        from plane_sync.emulator.cli import main as emulator_main

        return emulator_main(args[1:])
    print("usage: plane-sync {emulator,sync,check,status,run,demo} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
