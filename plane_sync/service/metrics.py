"""Prometheus metrics on ``/metrics`` and a health check on ``/healthz`` (``metrics:``).

The text format is the client library's (prometheus_client, the optional extra
``plane-sync[metrics]``); the values are read from :class:`LiveStatus` when scraped, so a
scrape costs the worker nothing and never waits on it. Loopback by default (see
:mod:`plane_sync.config.metrics`).

``/healthz`` answers 200 only when every configured folder had a complete pass (the whole
folder scanned, its work item listed) within its bound: ``max_pass_age`` when configured,
else twice its ``rescan_interval`` plus five minutes (a rescan is due every interval, and
Plane trouble backs off up to five minutes). A folder paused, missing, not yet mapped or
with a work item that cannot be found fails it. The body names every folder and why.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog

from plane_sync.config.types import MetricsSettings
from plane_sync.errors import ConfigError
from plane_sync.service.live import LiveStatus

log = structlog.get_logger(__name__)

HEALTH_SLACK = 300.0  # seconds over twice the rescan interval before a folder is stale

Snapshot = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def require_client_library() -> None:
    """Fail at start-up, as a configuration error, rather than at the first scrape."""
    if importlib.util.find_spec("prometheus_client") is None:
        raise ConfigError(["metrics: needs the prometheus_client package: install "
                           "plane-sync[metrics] (or pip install prometheus-client) in the "
                           "same environment, or remove the metrics key"])


def health(snapshot: Snapshot, max_pass_age: float | None,
           now: float | None = None) -> tuple[bool, list[str]]:
    """(healthy, one line per folder)."""
    now = time.time() if now is None else now
    ok, lines = True, []
    for folder in snapshot["folders"]:
        bound = max_pass_age or 2 * folder["rescan_interval"] + HEALTH_SLACK
        why = _folder_trouble(folder, bound, now)
        ok = ok and why is None
        lines.append(f"{'ok' if why is None else 'FAIL'} {folder['path']}: "
                     f"{why or f'every pass within {bound:.0f}s'}")
    if not snapshot["folders"]:
        lines.append("ok: no folder configured")
    return ok, lines


def _folder_trouble(folder: Snapshot, bound: float, now: float) -> str | None:
    if folder["paused"]:
        return "paused (plane-sync resume)"
    if not folder["available"]:
        return "not available (missing or unmounted)"
    if not folder["resolved"]:
        return "not mapped to a work item yet"
    broken = [p for p in folder["problems"] if p["kind"] != "unmapped"]
    if broken:
        return f"{broken[0]['work_item']} {broken[0]['kind']}: {broken[0]['reason']}"
    for target in folder["targets"]:
        last = target["last_complete_at"]
        if last is None:
            return f"{target['label']}: no complete pass yet"
        if now - last > bound:
            return f"{target['label']}: last complete pass {now - last:.0f}s ago"
    return None


class _Collector:
    """Builds the metric families from a snapshot at scrape time."""

    def __init__(self, live: LiveStatus) -> None:
        self.live = live

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.live.snapshot()
        c = s["counters"]
        yield CounterMetricFamily("plane_sync_uploads", "Files uploaded", c.get("uploads", 0))
        yield CounterMetricFamily("plane_sync_uploaded_bytes", "Bytes uploaded",
                                  c.get("bytes", 0))
        failures = CounterMetricFamily(
            "plane_sync_failures", "Failures by kind: file (one file's upload), "
            "folder_unavailable, work_item (could not be listed), plane (Plane unreachable, "
            "5xx or 429: back-off), storage (the storage host failed)", labels=["kind"])
        for kind in ("file", "folder_unavailable", "work_item", "plane", "storage"):
            failures.add_metric([kind], c.get(f"failures:{kind}", 0))
        yield failures
        yield GaugeMetricFamily("plane_sync_queue_files", "Files planned for upload in the "
                                "running pass and not started", s["queue"]["files"])
        yield GaugeMetricFamily("plane_sync_queue_bytes", "Bytes of those files",
                                s["queue"]["bytes"])
        targets = [t for f in s["folders"] for t in f["targets"]]
        yield GaugeMetricFamily("plane_sync_waiting_files", "Files waiting (still changing, "
                                "or another machine uploads them)",
                                sum(len(t["waiting"]) for t in targets))
        yield GaugeMetricFamily("plane_sync_failed_files", "Files whose last upload failed "
                                "(retried later)", sum(t["failed"] for t in targets))
        yield GaugeMetricFamily("plane_sync_held_targets", "Work items whose deletions are "
                                "held back", sum(1 for t in targets if t["held"]))
        rate = s["rate"]
        yield GaugeMetricFamily("plane_sync_rate_budget_used", "API requests counted in the "
                                "rate-limit window now", rate["used"])
        yield GaugeMetricFamily("plane_sync_rate_budget_limit", "API requests allowed per "
                                "rate-limit window", rate["limit"])
        yield from self._folders(s["folders"])

    def _folders(self, folders: Iterable[Snapshot]) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = time.time()
        age = GaugeMetricFamily(
            "plane_sync_last_complete_pass_age_seconds", "Seconds since the last complete "
            "pass over a work item's folder (absent: none yet)",
            labels=["folder", "work_item"])
        mode = GaugeMetricFamily("plane_sync_watch_mode", "How each folder is watched "
                                 "(1 for its mode)", labels=["folder", "mode"])
        paused = GaugeMetricFamily("plane_sync_paused", "1 while a folder is paused",
                                   labels=["folder"])
        for folder in folders:
            mode.add_metric([folder["path"], folder["watch_mode"] or "none"], 1)
            paused.add_metric([folder["path"]], 1 if folder["paused"] else 0)
            for t in folder["targets"]:
                if t["last_complete_at"] is not None:
                    age.add_metric([t["root"], t["label"]], now - t["last_complete_at"])
        yield from (age, mode, paused)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would flood the journal."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    def __init__(self, settings: MetricsSettings, live: LiveStatus) -> None:
        self.settings = settings
        self.live = live
        self._server: WSGIServer | None = None

    def app(self) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
        from prometheus_client import CollectorRegistry, make_wsgi_app

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self.live))
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start: StartResponse) -> list[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                ok, lines = health(self.live.snapshot(), self.settings.max_pass_age)
                start("200 OK" if ok else "503 Service Unavailable",
                      [("Content-Type", "text/plain; charset=utf-8")])
                return ["\n".join(lines).encode() + b"\n"]
            if path in ("/metrics", "/"):
                return list(metrics(environ, start))
            start("404 Not Found", [("Content-Type", "text/plain")])
            return [b"/metrics or /healthz\n"]

        return app

    def start(self) -> None:
        host, port = self.settings.host, self.settings.port
        server_class = _Server6 if ":" in host else _Server
        try:
            server = make_server(host, port, self.app(), server_class=server_class,
                                 handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError([f"metrics: cannot listen on {host}:{port}: "
                               f"{exc.strerror or exc}"]) from None
        self._server = server
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="metrics", daemon=True)
        thread.start()
        log.info("metrics.listening", url=f"http://{host}:{server.server_port}/metrics")

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
