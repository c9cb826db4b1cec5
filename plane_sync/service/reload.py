"""SIGHUP: the config file read again, and what of it a running daemon can take, without ever
taking the daemon down.

README: "an invalid one is refused and the running one kept". Whatever the file holds (tags,
huge values, a FIFO, a half-written file), loading it either gives a Config or refuses it; any
exception at all counts as refused. The refusal is logged once per reload, with every problem,
and shown in ``status`` as a daemon note until a reload succeeds.

Folders, their settings and logging change in place. ``plane`` (the key, the URL, the rate
limit), ``state_dir`` and ``metrics`` are bound to what is open (the client, the lock, the
sockets): a change to them is logged and waits for a restart.
"""

from __future__ import annotations

import structlog

from plane_sync.config.load import load_config
from plane_sync.config.types import Config
from plane_sync.errors import ConfigError
from plane_sync.service.activity import Activity
from plane_sync.service.notes import Notes

log = structlog.get_logger(__name__)

REFUSED = "config reload refused; previous configuration running"


def read_new_config(current: Config, activity: Activity, notes: Notes) -> Config | None:
    """The configuration to run from now on, or None (logged, and noted for ``status`` until
    a reload succeeds) when the file is refused."""
    source = current.source
    try:
        new = load_config(source)
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
        if (new.plane, new.state_dir, new.metrics) != (current.plane, current.state_dir,
                                                       current.metrics):
            log.warning("config.reload_partial",
                        note="plane, state_dir and metrics changes take effect after a restart")
        return Config(plane=current.plane, state_dir=current.state_dir, folders=new.folders,
                      log=new.log, source=new.source, warnings=new.warnings,
                      metrics=current.metrics)
    activity.set(REFUSED)
    return None


def quiet_for(config: Config) -> float:
    """The batch quiet period: the shortest settle time (a batch only marks targets dirty;
    the scan enforces each folder's own settle time)."""
    return max(min((f.settle for f in config.folders), default=2.0), 0.05)
