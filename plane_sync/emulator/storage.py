"""The storage host: one S3-like bucket with presigned POST upload and presigned GET download."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from plane_sync.emulator.faults import Faults
from plane_sync.emulator.multipart import MultipartError, boundary_of, parse_form
from plane_sync.emulator.policy import S3Error, check_post
from plane_sync.emulator.sigv4 import Credentials, get_signature
from plane_sync.emulator.wire import BaseHandler, BodyReader, Reply, RequestLog


@dataclass(frozen=True)
class StoredObject:
    path: str
    size: int
    md5: str
    content_type: str
    last_modified: dt.datetime

    @property
    def etag(self) -> str:
        return f'"{self.md5}"'


class ObjectStore:
    """Objects on disk under ``root``; metadata in memory. Thread-safe."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._objects: dict[str, StoredObject] = {}

    def put(self, key: str, spooled_path: str, size: int, md5: str, content_type: str) -> None:
        target = os.path.join(self.root, hashlib.sha256(key.encode()).hexdigest())
        os.replace(spooled_path, target)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with self._lock:
            self._objects[key] = StoredObject(target, size, md5, content_type, now)

    def get(self, key: str) -> StoredObject | None:
        with self._lock:
            return self._objects.get(key)

    def read(self, key: str) -> bytes | None:
        found = self.get(key)
        if found is None:
            return None
        with open(found.path, "rb") as source:
            return source.read()


class StorageService:
    """What the storage listener needs: bucket, keys, objects, faults, the request log."""

    def __init__(
        self, bucket: str, credentials: Credentials, objects: ObjectStore, faults: Faults,
        log: RequestLog,
    ) -> None:
        self.bucket = bucket
        self.credentials = credentials
        self.objects = objects
        self.faults = faults
        self.record = log.add

    def secret_for(self, access_key: str) -> str | None:
        creds = self.credentials
        return creds.secret_key if access_key == creds.access_key else None


def s3_error(error: S3Error, resource: str = "") -> Reply:
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in error.extra)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>{extra}"
        f"<Resource>{escape(resource)}</Resource><RequestId>emulator</RequestId></Error>"
    )
    return Reply(error.status, body.encode(), "application/xml")


class StorageHandler(BaseHandler):
    server_kind = "storage"

    @property
    def service(self) -> StorageService:
        service: StorageService = self.app
        return service

    def route(self, body: BodyReader) -> Reply | None:
        path = unquote(urlsplit(self.path).path)
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket != self.service.bucket:
            return s3_error(S3Error(404, "NoSuchBucket", "The specified bucket does not exist"))
        if self.command == "POST" and not key:
            return self._upload(body)
        if self.command in ("GET", "HEAD") and key:
            return self._download(key)
        return s3_error(S3Error(405, "MethodNotAllowed", "The specified method is not allowed."))

    def _upload(self, body: BodyReader) -> Reply:
        service = self.service
        boundary = boundary_of(self.headers.get("Content-Type", ""))
        if boundary is None:
            return s3_error(S3Error(
                412, "PreconditionFailed",
                "Bucket POST must be of the enclosure-type multipart/form-data",
            ))
        try:
            form = parse_form(body.read, boundary, service.objects.root)
        except MultipartError:
            return s3_error(S3Error(
                400, "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            ))
        if form.file is None:
            return s3_error(S3Error(
                400, "InvalidArgument", "POST requires exactly one file upload per request."
            ))
        try:
            if service.faults.storage_error("POST"):
                return s3_error(S3Error(503, "SlowDown", "Please reduce your request rate."))
            now = dt.datetime.now(dt.UTC)
            error = check_post(form.fields, form.file.size, service.bucket, service.secret_for, now)
            if error is not None:
                return s3_error(error, f"/{service.bucket}")
            fields = {name.lower(): value for name, value in form.fields}
            key = fields["key"].replace("${filename}", form.file.filename or "")
            content_type = fields.get("content-type", "binary/octet-stream")
            service.objects.put(key, form.file.path, form.file.size, form.file.md5, content_type)
        finally:
            form.file.discard()  # no-op once the object store took the file
        host = self.headers.get("Host", "")
        return Reply(204, headers={
            "ETag": f'"{form.file.md5}"',
            "Location": f"http://{host}/{service.bucket}/{quote(key, safe='/')}",
        })

    def _download(self, key: str) -> Reply:
        service = self.service
        raw_query = urlsplit(self.path).query
        params = parse_qsl(raw_query, keep_blank_values=True)
        error = self._check_presigned(key, params)
        if error is not None:
            return s3_error(error, f"/{service.bucket}/{key}")
        found = service.objects.get(key)
        if found is None:
            return s3_error(S3Error(404, "NoSuchKey", "The specified key does not exist."))
        headers = {
            "ETag": found.etag,
            "Last-Modified": format_datetime(found.last_modified, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        for name, value in params:
            if name == "response-content-disposition":
                headers["Content-Disposition"] = value
        return Reply(200, content_type=found.content_type, headers=headers, file_path=found.path)

    def _check_presigned(self, key: str, params: list[tuple[str, str]]) -> S3Error | None:
        service = self.service
        query = dict(params)
        if "X-Amz-Signature" not in query:
            return S3Error(403, "AccessDenied", "Access Denied")
        access_key, _, scope = query.get("X-Amz-Credential", "").partition("/")
        region = ([*scope.split("/"), "", ""])[1]
        secret = service.secret_for(access_key)
        if secret is None:
            return S3Error(
                403, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        amz_date = query.get("X-Amz-Date", "")
        signed = [(k, v) for k, v in params if k != "X-Amz-Signature"]
        expected = get_signature(
            secret, region, amz_date, self.headers.get("Host", ""),
            f"/{service.bucket}/{key}", signed,
        )
        if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
            return S3Error(
                403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )
        try:
            issued = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            expires = issued + dt.timedelta(seconds=int(query.get("X-Amz-Expires", "0")))
        except ValueError:
            return S3Error(400, "AuthorizationQueryParametersError", "Invalid X-Amz-Date.")
        if dt.datetime.now(dt.UTC) > expires:
            return S3Error(403, "AccessDenied", "Request has expired")
        return None
