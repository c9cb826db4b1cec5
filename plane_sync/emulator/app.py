"""``Emulator``: a Plane API server plus an S3-like storage host, in-process, on loopback."""

from __future__ import annotations

import importlib
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from plane_sync.emulator.faults import Faults
from plane_sync.emulator.ratelimit import SlidingWindow
from plane_sync.emulator.server import ApiHandler, ApiService, build_routes
from plane_sync.emulator.sigv4 import Credentials
from plane_sync.emulator.state import Attachment, State
from plane_sync.emulator.storage import ObjectStore, StorageHandler, StorageService
from plane_sync.emulator.views import StorageTarget, Views
from plane_sync.emulator.wire import EmulatorHTTPServer, RequestLog, RequestRecord


def new_api_key() -> str:
    return "plane_api_" + secrets.token_hex(16)


class Emulator:
    """See the package docstring for the whole API. Nothing listens until ``start()``."""

    def __init__(
        self,
        api_key: str | None = None,
        workspace: str = "acme",
        project_identifier: str = "PROJ",
        work_items: int = 3,
        rate_limit: tuple[int, float] | None = (60, 60.0),
        file_size_limit: int = 5 * 1024 * 1024,
        host: str = "127.0.0.1",
        port: int = 0,
        storage_port: int = 0,
        legacy_routes: bool = False,
        storage_endpoint: str | None = None,
        storage_bucket: str = "uploads",
        storage_credentials: tuple[str, str] = ("testing", "testing"),
        region: str = "us-east-1",
        metadata_delay: float = 0.0,
        clock_offset: float = 0.0,
    ) -> None:
        self.api_key = api_key or new_api_key()
        self.workspace = workspace
        self.host, self.port, self.storage_port = host, port, storage_port
        self.file_size_limit = file_size_limit
        self.faults = Faults()
        self._log = RequestLog()
        self._state = State(workspace)
        self._api_keys = {self.api_key}
        self._external_storage = storage_endpoint
        self._credentials = Credentials(*storage_credentials, region=region)
        project = self._state.add_project(project_identifier, "Project")
        self.project_id = project.id
        self.project_identifier = project.identifier
        for number in range(1, work_items + 1):
            self._state.add_work_item(project.id, f"Work item {number}")
        self._tempdir = tempfile.mkdtemp(prefix="plane-emulator-")
        self._objects = ObjectStore(self._tempdir)
        self._storage_target = StorageTarget(storage_endpoint or "", storage_bucket,
                                             self._credentials)
        self._views = Views(self._state, self.faults, self._storage_target, file_size_limit,
                            self._fetch_metadata, metadata_delay)
        # clock_offset: the API server's clock runs that many seconds ahead of ours (behind
        # if negative), as its Date and X-RateLimit-Reset headers show.
        limiter = (SlidingWindow(*rate_limit, wall_clock=lambda: time.time() + clock_offset)
                   if rate_limit is not None else None)
        self._api_service = ApiService(
            self._views, build_routes(legacy_routes), self._api_keys, limiter, self.faults,
            self._log, self._instance_json, clock_offset,
        )
        self._servers: list[EmulatorHTTPServer] = []
        self.url = ""
        self.storage_url = storage_endpoint or ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._servers:
            raise RuntimeError("emulator already started")
        if self._external_storage is None:
            storage = EmulatorHTTPServer(
                (self.host, self.storage_port), StorageHandler,
                StorageService(self._storage_target.bucket, self._credentials, self._objects,
                               self.faults, self._log),
            )
            self._serve(storage)
            self.storage_port = storage.server_address[1]
            self.storage_url = f"http://{self.host}:{self.storage_port}"
            self._storage_target.endpoint = self.storage_url
        api = EmulatorHTTPServer((self.host, self.port), ApiHandler, self._api_service)
        self._serve(api)
        self.port = api.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        return self

    def _serve(self, server: EmulatorHTTPServer) -> None:
        self._servers.append(server)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"emulator-{server.server_address[1]}", daemon=True,
        )
        thread.start()

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        shutil.rmtree(self._tempdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never the key
        return f"Emulator(url={self.url!r}, workspace={self.workspace!r})"

    # -- data set-up -----------------------------------------------------------------------
    @property
    def work_items(self) -> list[dict[str, Any]]:
        return self._views.work_item_summaries()

    def add_project(self, identifier: str, name: str) -> dict[str, Any]:
        return self._state.add_project(identifier, name).to_json()

    def add_work_item(self, project_id: str, name: str, *, state: str = "normal") -> dict[str, Any]:
        return self._state.add_work_item(project_id, name, state).summary()

    def add_attachment(self, work_item_id: str, *, name: str, size: int,
                       external_id: str | None = None, external_source: str | None = None,
                       mime_type: str = "application/octet-stream") -> dict[str, Any]:
        """An attachment uploaded long ago, without the three steps (seeding benchmarks)."""
        item = self._state.items[work_item_id]
        row = Attachment(
            str(uuid.uuid4()), item.id, item.project.id, self._state.workspace_id, name,
            mime_type, size, f"{self._state.workspace_id}/{uuid.uuid4().hex}-{name}",
            external_id, external_source, self._state.user_id, is_uploaded=True,
            storage_metadata={"ContentLength": size, "ContentType": mime_type})
        self._state.add_attachment(row)
        return row.to_json()

    def add_api_key(self) -> str:
        key = new_api_key()
        self._api_keys.add(key)
        return key

    # -- inspection ------------------------------------------------------------------------
    def record(self, record: RequestRecord) -> None:
        self._log.add(record)

    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def attachments(
        self, work_item_id: str, *, include_pending: bool = False, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        rows: list[Attachment] = self._state.rows_of_issue(work_item_id)
        with self._state.lock:
            return [
                r.to_json() for r in rows
                if (include_pending or r.is_uploaded)
                and (include_deleted or r.deleted_at is None)
            ]

    def stored_object(self, key: str) -> bytes | None:
        return self._objects.read(key)

    # -- internals -------------------------------------------------------------------------
    def _instance_json(self) -> dict[str, Any]:
        return {
            "config": {"file_size_limit": float(self.file_size_limit), "is_smtp_configured": False},
            "instance": {"instance_name": "Plane emulator", "current_version": "v1.2.3",
                         "is_setup_done": True},
        }

    def _fetch_metadata(self, key: str) -> dict[str, Any] | None:
        """What Plane's Celery task stores after a HEAD of the object (``None`` if missing)."""
        if self._external_storage is not None:
            return self._head_external(key)
        found = self._objects.get(key)
        if found is None:
            return None
        return {
            "ETag": found.etag, "Metadata": {}, "ContentType": found.content_type,
            "LastModified": found.last_modified.isoformat(), "ContentLength": found.size,
        }

    def _head_external(self, key: str) -> dict[str, Any] | None:
        try:
            boto3: Any = importlib.import_module("boto3")
        except ImportError:
            return {}
        client = boto3.client(
            "s3", endpoint_url=self._external_storage, region_name=self._credentials.region,
            aws_access_key_id=self._credentials.access_key,
            aws_secret_access_key=self._credentials.secret_key,
        )
        try:
            head = client.head_object(Bucket=self._storage_target.bucket, Key=key)
        except Exception:  # the Celery task stores null when HEAD fails
            return None
        return {
            "ETag": head["ETag"], "Metadata": head.get("Metadata", {}),
            "ContentType": head.get("ContentType"),
            "LastModified": head["LastModified"].isoformat(),
            "ContentLength": head["ContentLength"],
        }
