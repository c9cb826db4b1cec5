"""``plane-sync run``: the daemon (logging is configured by the CLI)."""

from __future__ import annotations

import argparse

from plane_sync.config.types import Config
from plane_sync.service.daemon import run_daemon


def run(config: Config, args: argparse.Namespace) -> int:
    return run_daemon(config)
