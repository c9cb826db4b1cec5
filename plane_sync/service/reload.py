"""SIGHUP: read the config again without ever taking the daemon down.

README: "an invalid one is refused and the running one kept". Whatever the file holds (tags,
huge values, a FIFO, a half-written file), loading it either gives a Config or refuses it;
any exception at all counts as refused. The refusal is logged once per reload, with every
problem, and shown in ``status`` through the daemon's activity line.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from plane_sync.config.load import load_config
from plane_sync.config.types import Config
from plane_sync.errors import ConfigError
from plane_sync.service.activity import Activity

log = structlog.get_logger(__name__)

REFUSED = "config reload refused; previous configuration running"


def reload_config(source: Path, activity: Activity) -> Config | None:
    """The new config, or None (logged) when it is refused."""
    try:
        return load_config(source)
    except ConfigError as exc:
        log.error("config.reload_refused", source=str(source), problems=exc.problems,
                  note="the previous configuration keeps running")
    except Exception as exc:  # load_config raises nothing else; a bug must not stop us
        log.error("config.reload_refused", source=str(source), error=type(exc).__name__,
                  note="the previous configuration keeps running")
    activity.set(REFUSED)
    return None
