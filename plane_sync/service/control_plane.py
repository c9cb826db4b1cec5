"""The daemon's outward faces, started and stopped together: the control socket (always)
and the metrics endpoint (when ``metrics:`` is configured)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from plane_sync.config.types import Config
from plane_sync.errors import ConfigError
from plane_sync.service.control import ControlServer
from plane_sync.service.live import LiveStatus
from plane_sync.service.metrics import MetricsServer, require_client_library
from plane_sync.service.steering import Steering


@contextlib.contextmanager
def serving(config: Config, steering: Steering, live: LiveStatus) -> Iterator[None]:
    """Serve while the block runs. A metrics endpoint that cannot start is a configuration
    error (exit 2): a server that was asked for metrics must not run without them."""
    metrics = None
    if config.metrics is not None:
        try:
            require_client_library()
            metrics = MetricsServer(config.metrics, live)
            metrics.start()
        except ConfigError as exc:
            raise ConfigError(exc.problems, source=str(config.source)) from None
    control = ControlServer(config.state_dir, steering.handle)
    try:
        control.start()
        yield
    finally:
        control.stop()
        if metrics is not None:
            metrics.stop()
