"""Talking to the storage host (S3/MinIO): presigned POST, presigned GET, instance config.

Everything here goes through a client that carries no Plane header, so the API key can never
reach the storage host. The multipart body of the upload is built here rather than by httpx:
it streams the file from disk in 64 KiB chunks, hashes exactly the bytes it sends, and
declares the exact Content-Length (S3 refuses a chunked POST).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import httpx
import structlog

from plane_sync.errors import PlaneUnreachable, UnexpectedResponse
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.session import USER_AGENT, make_timeout, make_verify

log = structlog.get_logger(__name__)

CHUNK = 64 * 1024
DEFAULT_FILE_SIZE_LIMIT = 5 * 1024 * 1024


def make_storage_client(*, timeout: float = 30.0, ca_bundle: str | None = None,
                        transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A client for storage and other unauthenticated URLs: no Plane header, no redirects."""
    return httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=make_timeout(timeout),
                        verify=make_verify(ca_bundle), follow_redirects=False,
                        transport=transport)


def fetch_file_size_limit(client: httpx.Client, url: str) -> int:
    """``config.file_size_limit`` from Plane's unauthenticated instance route, else 5 MiB."""
    limit = read_file_size_limit(client, url)
    return DEFAULT_FILE_SIZE_LIMIT if limit is None else limit


def read_file_size_limit(client: httpx.Client, url: str) -> int | None:
    """``config.file_size_limit`` from Plane's unauthenticated instance route; None when it
    could not be read (the caller decides what to assume, and when to ask again)."""
    try:
        resp = client.get(url)
        body = resp.json() if resp.status_code == 200 else None
        value = body.get("config", {}).get("file_size_limit") if isinstance(body, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return int(value)
        log.info("plane.size_limit_unknown", status=resp.status_code)
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.info("plane.size_limit_unknown", error=type(exc).__name__)
    return None


ReadGuard = Callable[[], contextlib.AbstractContextManager[object]]


class ShortFile(Exception):
    """The file ended before the declared size: it changed while being sent."""


class FileBody:
    """A multipart/form-data body: ``fields`` verbatim in order, then the file part last.

    Iterating reads the open file in 64 KiB chunks, feeds every byte it yields into
    ``sha256``, and never yields more than ``size`` file bytes; a file that ends early
    raises ShortFile. ``length`` is exact, so the request carries Content-Length.
    """

    def __init__(self, fields: Mapping[str, str], file: BinaryIO, *, filename: str,
                 content_type: str, size: int,
                 on_chunk: Callable[[int], None] | None = None,
                 read_guard: ReadGuard = contextlib.nullcontext) -> None:
        self.boundary = uuid.uuid4().hex
        self.file = file
        self.read_guard = read_guard  # around each read: the daemon's I/O watchdog
        self.size = size
        self.sha256 = hashlib.sha256()
        self.sent = 0
        self.on_chunk = on_chunk  # progress, e.g. the daemon's liveness for its watchdog
        parts = []
        for name, value in fields.items():
            parts.append(self._header(name) + b"\r\n" + value.encode("utf-8") + b"\r\n")
        file_header = (self._header("file", filename) +
                       f"Content-Type: {content_type}\r\n".encode("ascii", "replace"))
        self.head = b"".join(parts) + file_header + b"\r\n"
        self.tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self.length = len(self.head) + size + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _header(self, name: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        return f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n".encode()

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        left = self.size
        while left > 0:
            with self.read_guard():
                chunk = self.file.read(min(CHUNK, left))
            if not chunk:
                raise ShortFile(f"the file ended after {self.sent} of {self.size} bytes")
            self.sha256.update(chunk)
            self.sent += len(chunk)
            left -= len(chunk)
            if self.on_chunk is not None:
                self.on_chunk(len(chunk))
            yield chunk
        yield self.tail


def _quote(value: str) -> str:
    # The escaping browsers use in form-data names: quote, CR and LF percent-encoded.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def post_form(client: httpx.Client, url: str, body: FileBody) -> httpx.Response:
    """One presigned POST of ``body``; httpx exceptions and ShortFile pass through."""
    headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
    return client.post(url, content=iter(body), headers=headers)


_S3_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")
_S3_MESSAGE = re.compile(rb"<Message>([^<]{1,300})</Message>")


def s3_error(response: httpx.Response) -> tuple[str, str]:
    """(Code, Message) from an S3 XML error body; empty strings when absent."""
    content = response.content[:4096]
    code = _S3_CODE.search(content)
    message = _S3_MESSAGE.search(content)
    return (code.group(1).decode("utf-8", "replace") if code else "",
            message.group(1).decode("utf-8", "replace") if message else "")


def policy_expiry(fields: Mapping[str, str]) -> float | None:
    """The Unix time the presigned POST policy expires, if the policy says."""
    policy = fields.get("policy") or fields.get("Policy")
    if not policy:
        return None
    try:
        doc: Any = json.loads(base64.b64decode(policy + "=" * (-len(policy) % 4)))
        expiration = doc.get("expiration") if isinstance(doc, dict) else None
        if not isinstance(expiration, str):
            return None
        return datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError):
        return None


def _amz_date(fields: Mapping[str, str]) -> float | None:
    """When Plane signed the policy, by Plane's clock (the ``x-amz-date`` field)."""
    value = fields.get("x-amz-date") or fields.get("X-Amz-Date")
    try:
        return datetime.strptime(value or "", "%Y%m%dT%H%M%SZ").replace(
            tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _http_date(value: str | None) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


def expired_policy_cause(fields: Mapping[str, str], storage_date: str | None,
                         local_now: float) -> str:
    """Why the storage host found an upload policy expired, from the three clocks at hand:
    Plane's (the policy's signing time and expiry), the storage host's (the ``Date`` of its
    answer) and ours. One sentence, naming the clock that is off when the figures show it."""
    signed = _amz_date(fields)
    expires = policy_expiry(fields)
    storage_now = _http_date(storage_date)
    if signed is None or expires is None:
        return "The policy does not say when it was signed or when it expires."
    if expires <= signed:
        return ("Plane signs policies that expire as they are issued: check "
                "SIGNED_URL_EXPIRATION on the Plane server.")
    if storage_now is not None and storage_now >= expires:
        ahead = storage_now - signed
        return (f"Clock skew: the storage host's clock is {_span(ahead)} ahead of the Plane "
                f"server's (the policy, signed by Plane for {_span(expires - signed)}, had "
                "expired by the storage host's clock before it was used). Set the Plane "
                "server's and the storage host's clocks right (NTP).")
    if local_now >= expires:
        return (f"The upload started {_span(local_now - expires)} after the policy expired "
                "(this machine was too slow, or its clock is off).")
    return ("The storage host calls it expired although by its own clock and ours it is "
            "still valid.")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 90:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def download_to(client: httpx.Client, url: str, dest: BinaryIO, *, retry: RetryPolicy,
                sleep: Callable[[float], None] = time.sleep, what: str) -> int:
    """Stream a presigned GET into ``dest``; retried only while nothing has been written."""
    host = httpx.URL(url).host
    attempt = 0
    while True:
        attempt += 1
        written = 0
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code == 200:
                    for chunk in resp.iter_bytes(CHUNK):
                        dest.write(chunk)
                        written += len(chunk)
                    log.debug("storage.downloaded", host=host, bytes=written)
                    return written
                resp.read()
                status = resp.status_code
                if status < 500 or attempt >= retry.attempts:
                    code, message = s3_error(resp)
                    raise UnexpectedResponse(
                        f"The storage host {host} answered {status} {code} {message} when "
                        f"asked to {what}. The presigned link may have expired (1 h); try "
                        "again.".replace("  ", " "), status=status, method="GET")
        except httpx.HTTPError as exc:
            if written or attempt >= retry.attempts:
                raise PlaneUnreachable(
                    f"Could not {what}: the storage host {host} failed "
                    f"({type(exc).__name__}) after {written} bytes. Check that this "
                    "machine can reach the storage URL Plane hands out.",
                    method="GET") from None
        sleep(retry.backoff(attempt))


def reopen(path: str) -> BinaryIO:
    """Open ``path`` for reading without following a symlink in its last component.

    O_NONBLOCK: a FIFO put in the file's place must not hang open() waiting for a writer
    (the caller then refuses it as not a regular file); regular files are unaffected.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    return os.fdopen(fd, "rb", buffering=0)
