"""The ``metrics:`` key: where the daemon serves Prometheus metrics and its health check.

Either ``metrics: 127.0.0.1:9464`` or a mapping ``{listen: 127.0.0.1:9464, max_pass_age:
30m}``. Loopback is the default and the advice: the metrics name folders, and anyone who
can reach the port can read them; another address is accepted with a warning.
"""

from __future__ import annotations

import ipaddress

from plane_sync.config.reader import Section
from plane_sync.config.types import MetricsSettings
from plane_sync.config.values import MAX_PASS_AGE, show

_KEYS = ("listen", "max_pass_age")
DEFAULT_HOST = "127.0.0.1"


def read_metrics(root: Section, warnings: list[str]) -> MetricsSettings | None:
    if "metrics" not in root or root.data["metrics"] is None:
        return None
    max_age: float | None = None
    if isinstance(root.data["metrics"], dict):
        sec = root.section("metrics")
        assert sec is not None
        sec.check_keys(_KEYS)
        listen = sec.text("listen", required=True)
        place = sec.at("listen")
        if "max_pass_age" in sec:
            max_age = sec.seconds("max_pass_age", 0.0, maximum=MAX_PASS_AGE)
    else:
        listen = root.text("metrics")
        place, sec = "metrics", root
    if listen is None:
        return None
    parsed = _parse_listen(listen)
    if parsed is None:
        sec.problems.add(place, f"{show(listen)} is not HOST:PORT (e.g. 127.0.0.1:9464) "
                                "or :PORT")
        return None
    host, port = parsed
    if not _loopback(host):
        warnings.append(f"{place}: {host} is not a loopback address: everyone who can reach "
                        f"port {port} can read the metrics (folder paths, work items)")
    return MetricsSettings(host=host, port=port, max_pass_age=max_age or None)


def _parse_listen(text: str) -> tuple[str, int] | None:
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        return None
    host = host.strip("[]") or DEFAULT_HOST  # "[::1]:9464" and ":9464"
    return host, int(port_text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
