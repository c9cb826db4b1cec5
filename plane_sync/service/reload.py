"""SIGHUP: the config file read again, and what of it a running daemon can take.

Folders, their settings and logging change in place. ``plane`` (the key, the URL, the rate
limit), ``state_dir`` and ``metrics`` are bound to what is open (the client, the lock, the
sockets): a change to them is logged and waits for a restart. An invalid file is refused and
the running configuration kept.
"""

from __future__ import annotations

import structlog

from plane_sync.config.load import load_config
from plane_sync.config.types import Config
from plane_sync.errors import ConfigError

log = structlog.get_logger(__name__)


def read_new_config(current: Config) -> Config | None:
    """The configuration to run from now on, or None (logged) when the file is refused."""
    source = current.source
    try:
        new = load_config(source)
    except ConfigError as exc:
        log.error("config.reload_refused", source=str(source), problems=exc.problems,
                  note="the previous configuration keeps running")
        return None
    except OSError as exc:
        log.error("config.reload_refused", source=str(source), error=str(exc),
                  note="the previous configuration keeps running")
        return None
    if (new.plane, new.state_dir, new.metrics) != (current.plane, current.state_dir,
                                                   current.metrics):
        log.warning("config.reload_partial",
                    note="plane, state_dir and metrics changes take effect after a restart")
    return Config(plane=current.plane, state_dir=current.state_dir, folders=new.folders,
                  log=new.log, source=new.source, warnings=new.warnings,
                  metrics=current.metrics)


def quiet_for(config: Config) -> float:
    """The batch quiet period: the shortest settle time (a batch only marks targets dirty;
    the scan enforces each folder's own settle time)."""
    return max(min((f.settle for f in config.folders), default=2.0), 0.05)
