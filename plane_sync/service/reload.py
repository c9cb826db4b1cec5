"""SIGHUP: read the config again without ever taking the daemon down.

README: "an invalid one is refused and the running one kept". Whatever the file holds (tags,
huge values, a FIFO, a half-written file), loading it either gives a Config or refuses it;
any exception at all counts as refused. The refusal is logged once per reload, with every
problem, and shown in ``status`` as a daemon note until a reload succeeds.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from plane_sync.config.load import load_config
from plane_sync.config.types import Config
from plane_sync.errors import ConfigError
from plane_sync.service.activity import Activity
from plane_sync.service.notes import Notes

log = structlog.get_logger(__name__)

REFUSED = "config reload refused; previous configuration running"


def reload_config(source: Path, activity: Activity, notes: Notes) -> Config | None:
    """The new config, or None (logged, and noted for ``status`` until a reload succeeds)
    when it is refused."""
    try:
        config = load_config(source)
    except ConfigError as exc:
        log.error("config.reload_refused", source=str(source), problems=exc.problems,
                  note="the previous configuration keeps running")
        first = exc.problems[0] if exc.problems else "invalid"
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        notes.set("config", f"{REFUSED}: {source}: {first}{more}")
    except Exception as exc:  # load_config raises nothing else; a bug must not stop us
        log.error("config.reload_refused", source=str(source), error=type(exc).__name__,
                  note="the previous configuration keeps running")
        notes.set("config", f"{REFUSED}: {source}: {type(exc).__name__}")
    else:
        notes.clear("config")
        return config
    activity.set(REFUSED)
    return None
