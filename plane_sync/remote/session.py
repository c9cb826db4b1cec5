"""The HTTP session under PlaneClient: auth header, pacing, retries, and error mapping.

The ``remote`` package (this module, ``client``, ``storage``, ``upload``) is the only place
that sees httpx exceptions; everything leaving it is a :mod:`plane_sync.errors` error. The API
key lives only in the httpx client's default headers: it is never logged, never part of a repr
or an error message, and redirects are never followed (a Location could point anywhere).
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog

from plane_sync.core.display import redact_url, url_userinfo
from plane_sync.errors import (
    AuthError,
    BadRequest,
    InvalidFileType,
    NotFound,
    NotPlane,
    PermissionDenied,
    PlaneError,
    PlaneUnreachable,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)
from plane_sync.remote.ratelimit import RateLimiter, Reservation
from plane_sync.remote.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

log = structlog.get_logger(__name__)

USER_AGENT = "plane-sync/0.1"
INVALID_KEY_DETAIL = "Given API token is not valid"
INVALID_FILE_TYPE = "Invalid file type."

# Errors after which the request cannot have reached the server: always safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Set in a response's extensions when an earlier try of the same request may have reached
# the server (its answer was lost, or it answered 5xx): the server may have acted twice.
RESENT = "plane_sync.resent"


def make_timeout(timeout: float) -> httpx.Timeout:
    """Explicit timeouts: connecting should be quick even when answers may be slow."""
    return httpx.Timeout(connect=min(10.0, timeout), read=timeout, write=timeout, pool=timeout)


def make_verify(ca_bundle: str | None) -> ssl.SSLContext:
    """TLS verification is always on; a custom CA bundle only adds trust anchors.

    ``create_default_context(cafile=...)`` would trust *only* the bundle: a Plane behind a
    private CA could then not reach a storage host with a public certificate (S3).
    """
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when there is none (or it is not JSON)."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def is_unknown_route(response: httpx.Response) -> bool:
    """A 404 from the URL router (HTML/plain body) rather than from a Plane view (JSON)."""
    return response.status_code == 404 and not isinstance(json_body(response), dict)


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
NOT_PLANE_HINT = ("Is this the Plane server? Check that the URL is the Plane server itself "
                  "(not the web app or a proxy path) and that it runs Plane 0.25 or later.")


def describe_answer(response: httpx.Response) -> str:
    """What answered, in a few words: status, content type, an HTML page's title and the
    Server header ("404 text/html, page "Error response", server SimpleHTTP/0.6")."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    parts = [f"{response.status_code} {content_type or 'without a content type'}"]
    title = _TITLE.search(response.content[:65536])
    if title:
        text = " ".join(title.group(1).decode("utf-8", "replace").split())[:80]
        parts.append(f'page "{text}"')
    server = response.headers.get("server", "").strip()[:80]
    if server:
        parts.append(f"server {server}")
    return ", ".join(parts)


def server_says(response: httpx.Response) -> str:
    """Plane's own short error text ("error" or "detail"), trimmed; "" if none."""
    body = json_body(response)
    if isinstance(body, dict):
        for field in ("error", "detail", "error_message"):
            value = body.get(field)
            if isinstance(value, str):
                return value[:200]
    return ""


class PlaneSession:
    """One authenticated httpx.Client plus the shared limiter and a retry policy."""

    def __init__(self, api_root: str, api_key: str, *, limiter: RateLimiter,
                 retry: RetryPolicy, timeout: float, ca_bundle: str | None,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not api_key:
            raise AuthError("No API key is configured. Create one in Plane under Profile "
                            "settings > Personal access tokens and put it in the "
                            "configuration.")
        self.api_root = api_root
        self.shown_root = redact_url(api_root)  # user:password@ in the URL is never shown
        self.limiter = limiter
        self.retry = retry
        self._sleep = sleep
        # Only for scrubbing server and error text; never printed.
        self._secrets = [s for s in (api_key, url_userinfo(api_root)) if s]
        self._http = httpx.Client(
            base_url=api_root,
            headers={"X-API-Key": api_key, "Accept": "application/json",
                     "User-Agent": USER_AGENT},
            timeout=make_timeout(timeout),
            verify=make_verify(ca_bundle),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"PlaneSession({self.shown_root!r})"

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def request(self, method: str, path: str, *, json: Mapping[str, Any] | None = None,
                params: Mapping[str, str] | None = None, what: str,
                repeatable: bool | None = None, reserve: Reservation | None = None,
                claim: Reservation | None = None) -> httpx.Response:
        """Send with pacing and retries; return the first answer that is not retried.

        ``repeatable`` says whether the request may be sent again after it may have reached
        the server (timeouts after connecting, 5xx). It defaults to True for every method but
        POST. A 429 and a failed connect are always retried: Plane throttles before the view
        runs, and an unconnected request never arrived. ``reserve`` / ``claim``: see
        :class:`plane_sync.remote.ratelimit.Reservation` (its first try only).
        """
        if repeatable is None:
            repeatable = method != "POST"
        attempt = 0
        throttled = 0
        maybe_acted = False  # an earlier try may have reached the server
        while True:
            attempt += 1
            permit = self.limiter.acquire(self._sleep, reserve=reserve, claim=claim)
            reserve = claim = None  # a retry is a request like any other
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.HTTPError as exc:
                self.limiter.release(permit)
                safe = repeatable or isinstance(exc, _NOT_SENT)
                if not safe or attempt >= self.retry.attempts:
                    raise self._unreachable(exc, method, path, what) from None
                maybe_acted = maybe_acted or not isinstance(exc, _NOT_SENT)
                wait = self.retry.backoff(attempt)
                log.info("plane.retry", method=method, path=path, attempt=attempt,
                         error=type(exc).__name__, wait=round(wait, 3))
                self._sleep(wait)
                continue
            self.limiter.release(permit)
            headers = response.headers
            self.limiter.observe(headers.get("x-ratelimit-remaining"),
                                 headers.get("x-ratelimit-reset"), permit,
                                 date=headers.get("date"))
            status = response.status_code
            log.debug("plane.request", method=method, path=path, status=status,
                      attempt=attempt)
            if status not in RETRYABLE_STATUS:
                if maybe_acted:
                    response.extensions[RESENT] = True
                return response
            if status == 429:
                throttled += 1
                retry_after = parse_retry_after(headers.get("retry-after"))
                if throttled > self.retry.throttled_attempts:
                    raise self.error_for(response, method, path, what)
                wait = self.retry.wait_for(throttled, retry_after)
                self.limiter.block_for(wait)  # everyone on this key waits, not just us
                attempt -= 1  # a 429 is paced by the server, not counted as a failure
                continue
            if not repeatable or attempt >= self.retry.attempts:
                raise self.error_for(response, method, path, what)
            maybe_acted = True  # a 5xx may come after the view did its work
            wait = self.retry.backoff(attempt)
            log.info("plane.retry", method=method, path=path, attempt=attempt, status=status,
                     wait=round(wait, 3))
            self._sleep(wait)

    def not_plane(self, response: httpx.Response, found: str) -> NotPlane:
        """The URL answers, but not like Plane: say what was asked, what answered instead,
        and what to check. ``found`` completes "<base URL> ..."."""
        base = self.shown_root.removesuffix("/api/v1")
        answer = self.scrub(describe_answer(response))
        return NotPlane(f"{base} {found} (it answered: {answer}). {NOT_PLANE_HINT}",
                        status=response.status_code, method=response.request.method,
                        path=response.request.url.path)

    def _unreachable(self, exc: httpx.HTTPError, method: str, path: str,
                     what: str) -> PlaneUnreachable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        detail = self.scrub(str(exc))[:200] or type(exc).__name__
        hint = ""
        if "WRONG_VERSION_NUMBER" in detail or "record layer failure" in detail:
            hint = " The server answered in plain HTTP: use an http:// URL, or its TLS port."
        return PlaneUnreachable(
            f"Could not {what}: the request to {self.shown_root} {kind} ({detail}).{hint} "
            "Check that the Plane URL is right, the server is up and reachable from this "
            "machine (proxy, firewall, DNS), and that its TLS certificate is trusted.",
            method=method, path=path)

    def error_for(self, response: httpx.Response, method: str, path: str,
                  what: str) -> PlaneError:
        """Map an answer that ends the request to the error tree, with what to check."""
        status = response.status_code
        said = self.scrub(server_says(response))
        quoted = f' ("{said}")' if said else ""
        kw: dict[str, Any] = {"status": status, "method": method, "path": path}
        if status == 401:
            return AuthError(
                "No API key was sent (401): the X-API-Key header is missing or empty. Set "
                "the API key in the configuration.", **kw)
        if status == 403 and said == INVALID_KEY_DETAIL:
            return AuthError(
                f"Plane at {self.shown_root} rejected the API key{quoted}. Check that the key "
                "is copied whole, has not expired or been revoked (Profile settings > "
                "Personal access tokens), and belongs to this Plane instance.", **kw)
        if status == 403:
            return PermissionDenied(
                f"Plane does not allow this key to {what}{quoted}. Check that the key's user "
                "is a member of the project (guest or higher) and that the workspace slug "
                "is right.", **kw)
        if status == 404:
            return NotFound(f"Could not {what}: it does not exist in Plane (404){quoted}. "
                            "Check the workspace, project and work item in the "
                            "configuration.", **kw)
        if status == 400 and said == INVALID_FILE_TYPE:
            return InvalidFileType(
                f"Plane refused the file type when asked to {what}{quoted}; the server's "
                "MIME allowlist does not include it.", **kw)
        if status == 400:
            return BadRequest(f"Plane refused to {what} (400){quoted}.", **kw)
        if status == 429:
            return RateLimited(
                f"Plane kept answering 429 (rate limit) when asked to {what}. Another "
                "client may be using the same API key; give plane-sync a ceiling below the "
                "key's limit (rate_limit) or a key of its own.", **kw)
        if status >= 500:
            return ServerError(
                f"Plane failed to {what} ({status}){quoted} after retries. Check the Plane "
                "server logs; the sync will try again later.", **kw)
        return UnexpectedResponse(
            f"Plane answered {status} when asked to {what}{quoted}, which the API contract "
            "does not allow. Is the URL a Plane server of version 0.25 or later?", **kw)
