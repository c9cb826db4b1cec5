"""PlaneClient: every Plane API call the sync needs, over one sync httpx.Client.

One client may be shared by many threads (httpx.Client is thread-safe); pacing is shared by
every client of the same API key through :func:`plane_sync.remote.ratelimit.limiter_for`.

Route families: Plane 1.1 added ``/work-items/.../attachments/``; older servers (0.25-1.0)
only know ``/issues/.../issue-attachments/``. The first call that touches a work item
finds out which (a 404 whose body is not JSON comes from the URL router: unknown route) and
the client remembers the answer.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx
import structlog

from plane_sync.core.display import redact_url
from plane_sync.core.mime import FALLBACK
from plane_sync.core.models import CreateConflict, RemoteAttachment, UploadTicket, WorkItem
from plane_sync.errors import BadRequest, NotFound, PermissionDenied, UnexpectedResponse
from plane_sync.remote.answers import parse_attachment, parse_ticket
from plane_sync.remote.ratelimit import RateLimiter, Reservation, limiter_for
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.session import (
    INVALID_FILE_TYPE,
    INVALID_KEY_DETAIL,
    RESENT,
    PlaneSession,
    is_unknown_route,
    json_body,
    server_says,
)
from plane_sync.remote.storage import (
    download_to,
    fetch_file_size_limit,
    make_storage_client,
    read_file_size_limit,
)

log = structlog.get_logger(__name__)

# Project identifiers are 1-12 letters/digits, stored upper-case; the sequence is a number.
# Validating here matters: Plane answers 500 to "PROJ-x" and 403 to lower case.
IDENTIFIER_RE = re.compile(r"^([A-Z0-9]{1,12})-0*([1-9][0-9]{0,9})$")


@dataclass(frozen=True)
class RouteFamily:
    work_items: str
    attachments: str


NEW_ROUTES = RouteFamily("work-items", "attachments")  # Plane >= 1.1
OLD_ROUTES = RouteFamily("issues", "issue-attachments")  # Plane 0.25 - 1.0


@dataclass(frozen=True)
class Project:
    id: str
    identifier: str
    name: str


def parse_identifier(ident: str) -> tuple[str, int]:
    """``"proj-12"`` -> ``("PROJ", 12)``; BadRequest (no network call) when malformed."""
    match = IDENTIFIER_RE.match(ident.strip().upper())
    if match is None:
        raise BadRequest(
            f"{ident!r} is not a work item identifier. Expected PROJECT-NUMBER such as "
            "PROJ-123, where PROJECT is the project's identifier (1-12 letters or digits).")
    return match.group(1), int(match.group(2))


def _check_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"{what} {value!r} is not a UUID, so Plane cannot have it. Copy the "
                       "id from the Plane URL or API.") from None


class PlaneClient:
    """Client of one Plane workspace (see the module docstring)."""

    def __init__(self, base_url: str, api_key: str, workspace: str, *,
                 rate_limit: tuple[int, float] | None = None, timeout: float = 30.0,
                 ca_bundle: str | None = None, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None,
                 storage_transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 limiter: RateLimiter | None = None) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/api/v1").removesuffix("/api")
        self.base_url = root
        self.shown_url = redact_url(root)  # for messages and logs: no user:password@
        self.workspace = workspace
        # rate_limit is a ceiling; the limit itself is learned from the server's answers.
        # ``limiter``: a limiter of its own instead of the key's shared one (as another
        # process would have; benchmarks and tests).
        self.limiter = limiter or limiter_for(api_key, rate_limit)
        self.retry = retry or RetryPolicy()
        self._session = PlaneSession(f"{root}/api/v1", api_key, limiter=self.limiter,
                                     retry=self.retry, timeout=timeout, ca_bundle=ca_bundle,
                                     transport=transport, sleep=sleep)
        # Storage and downloads: a different client that never carries Plane's headers.
        self.storage_client = make_storage_client(timeout=timeout, ca_bundle=ca_bundle,
                                                  transport=storage_transport)
        self._routes: RouteFamily | None = None  # unknown until a work-item call finds out
        self.sleep = sleep  # injectable so tests need not wait out backoffs

    def __repr__(self) -> str:
        return f"PlaneClient(base_url={self.shown_url!r}, workspace={self.workspace!r})"

    def __enter__(self) -> PlaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        self.storage_client.close()

    @property
    def legacy_routes(self) -> bool | None:
        """True on servers older than 1.1 (``/issues/`` routes); None until known."""
        return None if self._routes is None else self._routes is OLD_ROUTES

    # -- plumbing ---------------------------------------------------------------------------

    def _routed(self, method: str, build: Callable[[RouteFamily], str], *, what: str,
                json: dict[str, Any] | None = None, repeatable: bool | None = None,
                reserve: Reservation | None = None,
                claim: Reservation | None = None) -> httpx.Response:
        """Request a work-item route, detecting the route family on first use."""
        routes = self._routes or NEW_ROUTES
        resp = self._session.request(method, build(routes), json=json, what=what,
                                     repeatable=repeatable, reserve=reserve, claim=claim)
        if self._routes is not None:
            return resp
        if method == "GET" and resp.status_code == 200 and json_body(resp) is None:
            # A web app (or anything but Plane) serving a page for every path.
            raise self._session.not_plane(resp, "answers Plane's work item routes with a "
                                          "page, not JSON")
        if is_unknown_route(resp):
            old = self._session.request(method, build(OLD_ROUTES), json=json, what=what,
                                        repeatable=repeatable, reserve=reserve, claim=claim)
            if is_unknown_route(old):
                raise self._session.not_plane(
                    old, "knows neither /work-items/ nor /issues/ routes (404 without JSON)")
            self._routes = OLD_ROUTES
            log.info("plane.legacy_routes", base_url=self.shown_url)
            return old
        self._routes = NEW_ROUTES
        return resp

    def _expect_json(self, resp: httpx.Response, what: str) -> Any:
        body = json_body(resp)
        if body is None:
            raise UnexpectedResponse(
                f"Plane answered {resp.status_code} without a JSON body when asked to {what}.",
                status=resp.status_code, method=resp.request.method, path=resp.request.url.path)
        return body

    def _fail(self, resp: httpx.Response, what: str) -> Exception:
        return self._session.error_for(resp, resp.request.method, resp.request.url.path, what)

    def _item_path(self, item: WorkItem, routes: RouteFamily, attachment_id: str = "") -> str:
        base = (f"/workspaces/{self.workspace}/projects/{item.project_id}/{routes.work_items}/"
                f"{item.id}/{routes.attachments}/")
        return f"{base}{attachment_id}/" if attachment_id else base

    # -- account and projects ---------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The key's user (id, email, display_name): the cheapest check that the key works."""
        what = "check the API key"
        resp = self._session.request("GET", "/users/me/", what=what)
        # Plane always has this route and always answers JSON: anything else is not Plane.
        if resp.status_code == 404 or (resp.status_code < 500 and json_body(resp) is None):
            raise self._session.not_plane(
                resp, "knows neither /work-items/ nor /issues/ routes: it does not even know "
                "/api/v1/users/me/, which every Plane has")
        if resp.status_code != 200:
            raise self._fail(resp, what)
        body = self._expect_json(resp, what)
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"Plane's answer to {what} is not an object.")
        return body

    def list_projects(self) -> list[Project]:
        """Every project the key can see, following Plane's cursor pagination."""
        what = f"list the projects of workspace {self.workspace}"
        per_page = "1000"  # resend with every cursor: Plane computes offsets from it
        params = {"per_page": per_page}
        projects: list[Project] = []
        while True:
            resp = self._session.request("GET", f"/workspaces/{self.workspace}/projects/",
                                         params=params, what=what)
            if resp.status_code != 200:
                raise self._fail(resp, what)
            body = self._expect_json(resp, what)
            results = body.get("results") if isinstance(body, dict) else body
            for entry in results or []:
                projects.append(Project(id=str(entry["id"]),
                                        identifier=str(entry.get("identifier", "")),
                                        name=str(entry.get("name", ""))))
            if not (isinstance(body, dict) and body.get("next_page_results")):
                return projects
            params = {"per_page": per_page, "cursor": str(body["next_cursor"])}

    def file_size_limit(self) -> int:
        """The server's FILE_SIZE_LIMIT from the unauthenticated /api/instances/ (5 MiB if
        unknown). Asked through the storage client: that route needs no key."""
        return fetch_file_size_limit(self.storage_client, f"{self.base_url}/api/instances/")

    def read_file_size_limit(self) -> int | None:
        """The server's FILE_SIZE_LIMIT, or None when /api/instances/ did not say."""
        return read_file_size_limit(self.storage_client, f"{self.base_url}/api/instances/")

    # -- work items -------------------------------------------------------------------------

    def resolve_identifier(self, ident: str) -> WorkItem:
        """``PROJ-123`` -> WorkItem. Intake, draft and archived items are not reachable this
        way (Plane excludes them); use :meth:`get_work_item` with their UUIDs."""
        project, seq = parse_identifier(ident)
        label = f"{project}-{seq}"
        what = f"find work item {label} in workspace {self.workspace}"
        resp = self._routed(
            "GET", lambda r: f"/workspaces/{self.workspace}/{r.work_items}/{label}/", what=what)
        if resp.status_code == 403 and server_says(resp) != INVALID_KEY_DETAIL:
            raise PermissionDenied(
                f"Cannot {what}: project {project} does not exist in workspace "
                f"{self.workspace}, or the key's user is not a member of it (403).",
                status=403, method="GET", path=resp.request.url.path)
        if resp.status_code != 200:
            raise self._fail(resp, what)
        return self._work_item(self._expect_json(resp, what), label=label)

    def get_work_item(self, project_id: str, work_item_id: str, *,
                      probe_hidden: bool = True) -> WorkItem:
        """A work item by UUIDs, including intake, draft and archived items.

        The detail route excludes intake/draft/archived items, and the attachment list
        answers 200 [] even for ids that do not exist, so neither alone can confirm. When
        the detail route says 404, an empty POST to the attachment route decides: Plane
        looks the item up (404 when missing, any state included) before it checks the body
        (400 "Invalid request."), so nothing is ever created. ``probe_hidden=False``
        skips that POST (dry runs) and takes the item as hidden.
        """
        pid = _check_uuid(project_id, "Project id")
        wid = _check_uuid(work_item_id, "Work item id")
        what = f"find work item {wid} in project {pid}"
        resp = self._routed(
            "GET", lambda r: f"/workspaces/{self.workspace}/projects/{pid}/{r.work_items}/{wid}/",
            what=what)
        if resp.status_code == 200:
            return self._work_item(self._expect_json(resp, what))
        if resp.status_code != 404:
            raise self._fail(resp, what)
        item = WorkItem(id=wid, project_id=pid)
        if not probe_hidden:
            # A dry run sends no POST, not even one that cannot create anything: assume the
            # item is hidden (intake, draft, archived) rather than missing.
            log.info("plane.work_item_unconfirmed", work_item=wid, project=pid)
            return item
        probe = self._routed("POST", lambda r: self._item_path(item, r), json={}, what=what,
                             repeatable=True)  # an empty body cannot create anything
        if probe.status_code == 400:
            log.info("plane.work_item_hidden", work_item=wid, project=pid)
            return item  # intake, draft or archived: attachments work, details are hidden
        raise self._fail(probe, what)

    @staticmethod
    def _work_item(body: Any, label: str | None = None) -> WorkItem:
        if not isinstance(body, dict) or "id" not in body or "project" not in body:
            raise UnexpectedResponse("Plane's work item answer lacks id or project.")
        seq = body.get("sequence_id")
        return WorkItem(id=str(body["id"]), project_id=str(body["project"]),
                        name=str(body.get("name") or ""), identifier=label,
                        sequence_id=int(seq) if isinstance(seq, int | float) else None)

    # -- attachments ------------------------------------------------------------------------

    def list_attachments(self, work_item: WorkItem) -> list[RemoteAttachment]:
        """The uploaded, non-deleted attachments (Plane hides pending ones)."""
        what = f"list the attachments of work item {work_item.label}"
        resp = self._routed("GET", lambda r: self._item_path(work_item, r), what=what)
        if resp.status_code != 200:
            raise self._fail(resp, what)
        body = self._expect_json(resp, what)
        if not isinstance(body, list):
            raise UnexpectedResponse(f"Plane's answer to {what} is not a list.")
        return [parse_attachment(entry) for entry in body if isinstance(entry, dict)]

    def create_attachment(self, work_item: WorkItem, *, name: str, mime_type: str, size: int,
                          external_id: str | None = None, external_source: str | None = None,
                          reservation: Reservation | None = None,
                          ) -> UploadTicket | CreateConflict:
        """Step 1 of an upload: ask for storage credentials. ``reservation``: keep the rate
        limit's room for the complete (see :class:`plane_sync.remote.ratelimit.Reservation`).

        409 (same external id/source exists, pending or not) comes back as CreateConflict.
        A POST is repeated after a timeout/5xx only when external id and source are both
        set: a repeat then cannot duplicate; it answers 409 with the id of the first.
        """
        what = f"create attachment {name!r} on work item {work_item.label}"
        repeatable = bool(external_id and external_source)
        body: dict[str, Any] = {"name": name, "type": mime_type, "size": int(size)}
        if external_id:
            body["external_id"] = external_id
        if external_source:
            body["external_source"] = external_source
        resp = self._routed("POST", lambda r: self._item_path(work_item, r), json=body,
                            what=what, repeatable=repeatable, reserve=reservation)
        if (resp.status_code == 400 and server_says(resp) == INVALID_FILE_TYPE
                and mime_type != FALLBACK):
            # Older servers lack some types (text/markdown before 1.2.2): send the fallback.
            log.info("plane.type_fallback", refused=mime_type, work_item=work_item.label)
            body["type"] = FALLBACK
            resp = self._routed("POST", lambda r: self._item_path(work_item, r), json=body,
                                what=what, repeatable=repeatable, reserve=reservation)
        if resp.status_code == 409:
            existing = json_body(resp)
            if isinstance(existing, dict) and existing.get("id"):
                return CreateConflict(existing_id=str(existing["id"]),
                                      after_resend=bool(resp.extensions.get(RESENT)))
            raise UnexpectedResponse(f"Plane answered 409 without an id when asked to {what}.",
                                     status=409)
        if resp.status_code not in (200, 201):
            raise self._fail(resp, what)
        return parse_ticket(self._expect_json(resp, what), what)

    def complete_attachment(self, work_item: WorkItem, attachment_id: str, *,
                            reservation: Reservation | None = None) -> None:
        """Step 3 of an upload: mark it uploaded. Idempotent; call it only after storage
        answered 204 (Plane does not check that the object exists). ``reservation``: the
        create's, whose slot this takes."""
        what = f"complete attachment {attachment_id} on work item {work_item.label}"
        resp = self._routed("PATCH", lambda r: self._item_path(work_item, r, attachment_id),
                            json={"is_uploaded": True}, what=what, claim=reservation)
        if resp.status_code not in (200, 204):
            raise self._fail(resp, what)

    def delete_attachment(self, work_item: WorkItem, attachment_id: str, *,
                          reservation: Reservation | None = None) -> bool:
        """Soft-delete an attachment; False when it was already gone (404). ``reservation``:
        an abandoned upload's, whose slot this takes."""
        what = f"delete attachment {attachment_id} on work item {work_item.label}"
        resp = self._routed("DELETE", lambda r: self._item_path(work_item, r, attachment_id),
                            what=what, claim=reservation)
        if resp.status_code in (200, 204):
            return True
        if resp.status_code == 404:
            return False
        raise self._fail(resp, what)

    def download(self, work_item: WorkItem, attachment_id: str, dest: BinaryIO) -> int:
        """Write an attachment's bytes to ``dest``; return how many were written.

        Plane answers 302 to a presigned storage URL; that URL is fetched by the storage
        client, which carries no Plane header.
        """
        what = f"download attachment {attachment_id} of work item {work_item.label}"
        resp = self._routed("GET", lambda r: self._item_path(work_item, r, attachment_id),
                            what=what)
        location = resp.headers.get("location")
        if resp.status_code not in (301, 302, 303, 307) or not location:
            if resp.status_code == 400:
                raise BadRequest(f"Cannot {what}: Plane says it is not uploaded yet "
                                 f"(\"{server_says(resp)}\").", status=400, method="GET",
                                 path=resp.request.url.path)
            raise self._fail(resp, what)
        url = str(resp.request.url.join(location))
        return download_to(self.storage_client, url, dest, retry=self.retry, sleep=self.sleep,
                           what=what)
