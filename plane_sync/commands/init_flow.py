"""The questions ``plane-sync init`` asks, one at a time, each checked before the next.

Answers come from the command line first; what is missing is asked on the terminal (the API
key with hidden input), or, without one (``--non-interactive``, a script), reported as
missing. A wrong answer that Plane can judge (an unreachable URL, a rejected key, a
workspace the key cannot see, a work item that does not exist) is asked again, saying why.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

INIT_DESCRIPTION = (
    "Set plane-sync up: ask for Plane's address and an API key (input hidden), check them, "
    "list the workspace's projects, map a folder to a work item (or to subfolders named "
    "after work items), write the config (mode 0600) with the key in a key file of its own "
    "(mode 0600), and offer the systemd user unit. Every answer can be given as an option "
    "instead; with --non-interactive (or no terminal) nothing is asked.")
INIT_EPILOG = """example for scripts:
  plane-sync init --non-interactive --url https://plane.example.com \\
      --api-key-file - --workspace acme --folder ~/Plane/PROJ-12 --work-item PROJ-12 \\
      --unit start <<< "$PLANE_API_KEY"

exit status:
  0  the config was written (and the unit installed or started, when asked)
  1  the config was written but the unit could not be started (the reason is printed)
  2  usage error: an answer missing without a terminal, a config that exists (--force)
  3  Plane unreachable, or the API key rejected (only without a terminal to ask again)"""

class MissingAnswer(Exception):
    """An answer was needed and nobody can be asked."""


class Asker:
    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def text(self, question: str, given: str | None, *, option: str,
             default: str | None = None) -> str:
        if given:
            return given
        if not self.interactive:
            raise MissingAnswer(f"{option} is missing")
        hint = f" [{default}]" if default else ""
        while True:
            answer = input(f"{question}{hint}: ").strip()
            if answer or default:
                return answer or str(default)
            print("  (an answer is needed; Ctrl-C gives up)")

    def secret(self, question: str) -> str:
        if not self.interactive:
            raise MissingAnswer("--api-key-file is missing (or set $PLANE_API_KEY)")
        while True:
            answer = getpass.getpass(f"{question}: ").strip()
            if answer:
                return answer
            print("  (an answer is needed; Ctrl-C gives up)")

    def yes(self, question: str, *, default: bool) -> bool:
        if not self.interactive:
            return default
        hint = "Y/n" if default else "y/N"
        while True:
            answer = input(f"{question} [{hint}]: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")


def read_key_file(spec: str) -> str:
    """``--api-key-file``: a file, or ``-`` for stdin."""
    if spec == "-":
        return sys.stdin.read().strip()
    return Path(os.path.expanduser(spec)).read_text(encoding="utf-8").strip()
