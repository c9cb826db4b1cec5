"""The API listener: faults, trailing-slash redirect, routing, auth, rate limit, then the view."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from plane_sync.emulator.faults import Faults
from plane_sync.emulator.ratelimit import SlidingWindow
from plane_sync.emulator.views import SERVER_ERROR, ApiRequest, Views, json_reply
from plane_sync.emulator.wire import BaseHandler, BodyReader, Reply, RequestLog

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
WS = r"/api/v1/workspaces/(?P<slug>[^/]+)"
PROJECT = WS + rf"/projects/(?P<pid>{UUID})"
RATE_LIMITED = {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
BAD_TOKEN = {"detail": "Given API token is not valid"}

# What Django answers (DEBUG=0) for a path no URL pattern matches.
DJANGO_404 = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n'
    b"<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    b"</body>\n</html>\n"
)


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    view: str  # name of the Views method
    methods: frozenset[str]
    authenticated: bool = True


def build_routes(legacy: bool) -> list[Route]:
    """URL patterns; ``legacy`` leaves out the /work-items/ aliases added in Plane v1.1.0."""
    families = [("issues", "issue-attachments")]
    if not legacy:
        families.insert(0, ("work-items", "attachments"))
    get, get_post = frozenset({"GET"}), frozenset({"GET", "POST"})
    table: list[tuple[str, str, frozenset[str], bool]] = [
        (r"/api/instances/", "instances", get, False),
        (r"/api/v1/users/me/", "me", get, True),
        (WS + r"/projects/", "projects", get_post, True),
        (PROJECT + "/", "project", get, True),
    ]
    for items, attachments in families:
        table += [
            (WS + rf"/{items}/(?P<ident>[^/]+)-(?P<seq>[^/]+)/", "item_by_identifier", get, True),
            (PROJECT + rf"/{items}/", "items", get_post, True),
            (PROJECT + rf"/{items}/(?P<iid>{UUID})/", "item", get, True),
            (PROJECT + rf"/{items}/(?P<iid>{UUID})/{attachments}/", "attachments", get_post, True),
            (
                PROJECT + rf"/{items}/(?P<iid>{UUID})/{attachments}/(?P<aid>{UUID})/",
                "attachment", frozenset({"GET", "PATCH", "DELETE"}), True,
            ),
        ]
    return [Route(re.compile(f"^{p}$"), v, m, a) for p, v, m, a in table]


class ApiService:
    """Everything the API handler needs, bundled for ``server.app``."""

    def __init__(
        self, views: Views, routes: list[Route], api_keys: set[str],
        limiter: SlidingWindow | None, faults: Faults, log: RequestLog,
        instance_json: Callable[[], object], clock_offset: float = 0.0,
    ) -> None:
        self.clock_offset = clock_offset  # the API's clock runs this far ahead (Date, resets)
        self.views = views
        self.routes = routes
        self.api_keys = api_keys
        self.limiter = limiter
        self.faults = faults
        self.record = log.add
        self.instance_json = instance_json

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None


class ApiHandler(BaseHandler):
    server_kind = "api"

    @property
    def service(self) -> ApiService:
        service: ApiService = self.app
        return service

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, from the emulated server's clock (``clock_offset``)."""
        if timestamp is None:
            timestamp = time.time() + self.service.clock_offset
        return super().date_time_string(timestamp)

    def route(self, body: BodyReader) -> Reply | None:
        service = self.service
        fault = service.faults.for_api(self.command)
        if fault.delay > 0:
            time.sleep(fault.delay)
        if fault.action == "drop":
            return None
        if fault.action == "error":
            return json_reply(500, SERVER_ERROR)
        if fault.action == "429":
            return json_reply(429, RATE_LIMITED, {"Retry-After": "1"})
        url = urlsplit(self.path)
        path = unquote(url.path)
        matched = service.match(path)
        if matched is None:
            if not path.endswith("/") and service.match(path + "/") is not None:
                location = url.path + "/" + (f"?{url.query}" if url.query else "")
                return Reply(301, content_type="text/html; charset=utf-8",
                             headers={"Location": location})
            return Reply(404, DJANGO_404, "text/html; charset=utf-8")
        route, params = matched
        if not route.authenticated:
            if service.faults.settings.instance_down:
                return json_reply(503, SERVER_ERROR)
            instance = json_reply(200, service.instance_json())
            return None if fault.action == "lose" else instance
        key = self.headers.get("X-API-Key")
        if not key:
            return json_reply(401, NO_CREDENTIALS)
        if key not in service.api_keys:
            return json_reply(403, BAD_TOKEN)
        rate_headers: dict[str, str] = {}
        if service.limiter is not None:
            verdict = service.limiter.check(key)
            if not verdict.allowed:
                return json_reply(429, RATE_LIMITED, {"Retry-After": str(verdict.retry_after)})
            rate_headers = {
                "X-RateLimit-Remaining": str(verdict.remaining),
                "X-RateLimit-Reset": str(verdict.reset),
            }
        reply = self._view(route, params, url.query, body)
        reply.headers.update(rate_headers)
        if fault.action == "lose":
            return None  # the view has acted; the answer never reaches the client
        return reply

    def _view(self, route: Route, params: dict[str, str], query: str, body: BodyReader) -> Reply:
        if self.command not in route.methods:
            return json_reply(405, {"detail": f'Method "{self.command}" not allowed.'})
        request = ApiRequest(
            self.command, params, parse_qsl(query, keep_blank_values=True), body.read_all(),
            self.headers.get("Content-Type", ""),
        )
        view: Callable[[ApiRequest], Reply] = getattr(self.service.views, route.view)
        try:
            return view(request)
        except ValueError:  # malformed JSON and the like
            return json_reply(400, {"detail": "JSON parse error"})
        except Exception:  # what Plane's handle_exception turns into its generic 500
            return json_reply(500, SERVER_ERROR)
