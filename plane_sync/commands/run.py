"""``plane-sync run``: the daemon."""

from __future__ import annotations

import argparse

from plane_sync.config_types import Config
from plane_sync.daemon import run_daemon
from plane_sync.logs import configure_logging


def run(config: Config, args: argparse.Namespace) -> int:
    configure_logging(args.log_level or config.log.level, args.log_format or config.log.format,
                      secrets=(config.plane.api_key,))
    return run_daemon(config)
