"""The API endpoints: what each route answers once auth and the rate limit have passed."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import json
import posixpath
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from plane_sync.core.mime import PLANE_ALLOWED
from plane_sync.emulator.faults import Faults
from plane_sync.emulator.pagination import PageError, paginate
from plane_sync.emulator.sigv4 import Credentials, presigned_get_url, presigned_post_fields
from plane_sync.emulator.state import Attachment, State, WorkItem, now_iso
from plane_sync.emulator.wire import Reply

NOT_FOUND = {"error": "The requested resource does not exist."}
SERVER_ERROR = {"error": "Something went wrong please try again later"}
INVALID_REQUEST = {"error": "Invalid request.", "status": False}
INVALID_TYPE = {"error": "Invalid file type.", "status": False}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
DUPLICATE = "Issue with the same external id and external source already exists"
SIGNED_URL_EXPIRATION = 3600

MetadataFetcher = Callable[[str], "dict[str, Any] | None"]


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), "application/json", headers or {})


def sanitize_filename(name: str | None) -> str | None:
    """The server's attachment-name cleaning (Plane v1.3.1+ ``sanitize_filename``)."""
    if name is None:
        return None
    name = name.replace("\x00", "").replace("\\", "/")
    name = posixpath.basename(name).replace("..", "").strip().lstrip(".")
    return name or None


@dataclass(frozen=True)
class ApiRequest:
    method: str
    params: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    content_type: str


@dataclass
class StorageTarget:
    """Where presigned URLs point: the emulator's own storage listener or an external S3."""

    endpoint: str
    bucket: str
    credentials: Credentials


def parse_data(request: ApiRequest) -> Any:
    """``request.data`` as DRF would build it; form values stay strings (hence the 500s)."""
    if not request.body:
        return {}
    kind = request.content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(request.body.decode("utf-8", "replace")))
    if kind == "multipart/form-data":
        header = f"Content-Type: {request.content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            header + request.body
        )
        return {
            part.get_param("name", header="content-disposition"): part.get_content()
            for part in message.iter_parts()
        }
    return json.loads(request.body)


class Views:
    def __init__(
        self, state: State, faults: Faults, storage: StorageTarget, file_size_limit: int,
        fetch_metadata: MetadataFetcher, metadata_delay: float,
    ) -> None:
        self.state = state
        self.faults = faults
        self.storage = storage
        self.file_size_limit = file_size_limit
        self.fetch_metadata = fetch_metadata
        self.metadata_delay = metadata_delay

    # -- users, projects -------------------------------------------------------------------
    def me(self, request: ApiRequest) -> Reply:
        return json_reply(200, self.state.user_json())

    def projects(self, request: ApiRequest) -> Reply:
        state = self.state
        if request.params["slug"] != state.workspace_slug:
            return json_reply(403, NO_PERMISSION)
        if request.method == "POST":
            data = parse_data(request)
            name, identifier = data.get("name"), data.get("identifier")
            if not isinstance(name, str) or not isinstance(identifier, str) or not identifier:
                return json_reply(400, {"error": "Name and identifier are required"})
            try:
                project = state.add_project(identifier, name)
            except ValueError:
                return json_reply(409, {"error": "Project Identifier is taken", "status": False})
            return json_reply(201, project.to_json())
        with state.lock:
            rows = sorted(state.projects.values(), key=lambda p: p.sort_order)
        return self._page(request, [p.to_json() for p in rows])

    def project(self, request: ApiRequest) -> Reply:
        with self.state.lock:
            project = self.state.projects.get(request.params["pid"])
        if project is None or request.params["slug"] != self.state.workspace_slug:
            return json_reply(404, NOT_FOUND)
        return json_reply(200, project.to_json())

    @staticmethod
    def _page(request: ApiRequest, rows: list[dict[str, Any]]) -> Reply:
        try:
            return json_reply(200, paginate(rows, dict(request.query)))
        except PageError as error:
            return json_reply(400, {"detail": str(error)})

    # -- work items ------------------------------------------------------------------------
    def item_by_identifier(self, request: ApiRequest) -> Reply:
        state = self.state
        project = state.project_by_identifier(request.params["ident"])
        if request.params["slug"] != state.workspace_slug or project is None:
            return json_reply(403, NO_PERMISSION)
        try:
            sequence = int(request.params["seq"])
        except ValueError:
            return json_reply(500, SERVER_ERROR)
        item = next((i for i in state.visible_items(project.id) if i.sequence_id == sequence), None)
        return json_reply(404, NOT_FOUND) if item is None else json_reply(200, item.to_json())

    def items(self, request: ApiRequest) -> Reply:
        state = self.state
        with state.lock:
            project = state.projects.get(request.params["pid"])
        if project is None or request.params["slug"] != state.workspace_slug:
            return json_reply(403, NO_PERMISSION)
        if request.method == "POST":
            data = parse_data(request)
            name = data.get("name")
            if not isinstance(name, str) or not name.strip():
                return json_reply(400, {"name": ["This field is required."]})
            html = data.get("description_html") or "<p></p>"
            item = state.add_work_item(project.id, name, "normal", str(html))
            return json_reply(201, item.to_json())
        return self._page(request, [i.to_json() for i in state.visible_items(project.id)])

    def item(self, request: ApiRequest) -> Reply:
        state = self.state
        item = state.issue(request.params["slug"], request.params["pid"], request.params["iid"])
        if item is None or item.kind != "normal":
            return json_reply(404, NOT_FOUND)
        return json_reply(200, item.to_json())

    # -- attachments -----------------------------------------------------------------------
    def attachments(self, request: ApiRequest) -> Reply:
        return self._create(request) if request.method == "POST" else self._list(request)

    def _list(self, request: ApiRequest) -> Reply:
        p = request.params
        state = self.state
        if p["slug"] != state.workspace_slug:
            return json_reply(200, [])
        rows = [
            r.to_json() for r in state.rows_of_issue(p["iid"])
            if r.project_id == p["pid"] and r.is_uploaded and r.deleted_at is None
        ]
        return json_reply(200, rows)

    def _create(self, request: ApiRequest) -> Reply:
        p = request.params
        state = self.state
        issue = state.issue(p["slug"], p["pid"], p["iid"])
        if issue is None:
            return json_reply(404, NOT_FOUND)
        data = parse_data(request)
        if not isinstance(data, dict):
            return json_reply(500, SERVER_ERROR)
        raw_name = data.get("name")
        if raw_name is not None and not isinstance(raw_name, str):
            return json_reply(500, SERVER_ERROR)
        name = sanitize_filename(raw_name)
        size = data.get("size")
        if not name or not size:
            return json_reply(400, INVALID_REQUEST)
        if not isinstance(size, int | float):
            return json_reply(500, SERVER_ERROR)  # min(str, int) raises TypeError in Plane
        size_limit = min(size, self.file_size_limit)
        mime_type = data.get("type")
        if not mime_type or not isinstance(mime_type, str) or mime_type not in PLANE_ALLOWED:
            return json_reply(400, INVALID_TYPE)
        asset_key = f"{state.workspace_id}/{uuid.uuid4().hex}-{name}"
        external_id, external_source = data.get("external_id"), data.get("external_source")
        with state.lock:
            if external_id and external_source:
                for row in state.rows_of_issue(issue.id):
                    if (
                        row.deleted_at is None and row.external_id == external_id
                        and row.external_source == external_source
                    ):
                        return json_reply(409, {"error": DUPLICATE, "id": row.id})
            row = Attachment(
                str(uuid.uuid4()), issue.id, issue.project.id, state.workspace_id, name,
                mime_type, size_limit, asset_key, external_id, external_source, state.user_id,
            )
            state.add_attachment(row)
        expires_in = -1 if self.faults.policies_expired() else SIGNED_URL_EXPIRATION
        plane_now = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=self.faults.settings.plane_clock_behind)
        fields = presigned_post_fields(
            self.storage.credentials, self.storage.bucket, asset_key, mime_type, size_limit,
            plane_now, expires_in,
        )
        return json_reply(200, {
            "upload_data": {"url": f"{self.storage.endpoint}/{self.storage.bucket}",
                            "fields": fields},
            "asset_id": row.id,
            "attachment": row.to_json(as_listed=False),
            "asset_url": f"/api/assets/v2/workspaces/{p['slug']}/projects/{p['pid']}/issues/"
                         f"{p['iid']}/attachments/{row.id}/",
        })

    def attachment(self, request: ApiRequest) -> Reply:
        p = request.params
        state = self.state
        if request.method != "GET" and state.issue(p["slug"], p["pid"], p["iid"]) is None:
            return json_reply(404, NOT_FOUND)
        row = state.live_attachment(p["slug"], p["pid"], p["aid"])
        if row is None:
            return json_reply(404, NOT_FOUND)
        if request.method == "GET":
            return self._download(row)
        if request.method == "DELETE":
            with state.lock:
                row.deleted_at = row.updated_at = now_iso()
            return Reply(204)
        return self._complete(row)

    def _download(self, row: Attachment) -> Reply:
        if not row.is_uploaded:
            return json_reply(400, {"error": "The asset is not uploaded.", "status": False})
        disposition = f"attachment; filename*=UTF-8''{quote(row.name)}"
        location = presigned_get_url(
            self.storage.credentials, self.storage.endpoint, self.storage.bucket, row.asset,
            [("response-content-disposition", disposition)], dt.datetime.now(dt.UTC),
            SIGNED_URL_EXPIRATION,
        )
        return Reply(302, content_type="text/html; charset=utf-8", headers={"Location": location})

    def _complete(self, row: Attachment) -> Reply:
        with self.state.lock:
            if not row.is_uploaded:
                row.is_uploaded = True
                row.created_by = row.updated_by = self.state.user_id
            row.updated_at = now_iso()
            needs_metadata = not row.storage_metadata
        if needs_metadata:
            self._schedule_metadata(row)
        return Reply(204)

    def _schedule_metadata(self, row: Attachment) -> None:
        def fill() -> None:
            metadata = self.fetch_metadata(row.asset)
            with self.state.lock:
                row.storage_metadata = metadata

        if self.metadata_delay <= 0:
            fill()
            return
        timer = threading.Timer(self.metadata_delay, fill)
        timer.daemon = True
        timer.start()

    def work_item_summaries(self) -> list[dict[str, Any]]:
        with self.state.lock:
            items: list[WorkItem] = list(self.state.items.values())
        return [i.summary() for i in items]
