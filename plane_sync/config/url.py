"""``plane.url``, checked whole at load: no request, and no ``status``, ever meets a URL that
httpx or urllib cannot take.

Accepted: ``http`` or ``https``; a host name (letters, digits, ``-``, ``_``, dots, or an
internationalised name), an IPv4 address, or an IPv6 address in brackets; an optional port
1-65535; no path but ``/api/v1`` (or ``/api``), which is dropped with a warning; no query or
fragment. ``user:password@`` before the host is kept for the requests (a proxy in front of
Plane may ask for it) but never shown: every message here, and every other output, writes it
as ``***`` (:func:`plane_sync.core.display.redact_url`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from plane_sync.config.values import show
from plane_sync.core.display import redact_url

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_API_PATHS = frozenset({"/api", "/api/v1"})
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_BRACKETED = re.compile(r"\[[^\]]*\](?::[0-9]*)?")
EXAMPLE = "https://plane.example.com"


def check_plane_url(raw: str) -> tuple[str, list[str]]:
    """(the base URL without /api/v1 and trailing slash, warnings); ValueError says what is
    wrong, completing "plane.url: ..."."""
    shown = show(redact_url(raw.strip()))
    text = raw.strip()
    if any(ch.isspace() for ch in text):
        raise ValueError(f"{shown} contains a space; write the server's address, like "
                         f"{EXAMPLE}")
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for "8O80" and for 99999
        hostname = parts.hostname
    except ValueError as exc:
        raise ValueError(f"{shown} is not a valid URL ({_why(str(exc), text)}); write the server's "
                         f"address, like {EXAMPLE}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError(f"{shown} is not an http(s) URL")
    _check_host(parts, hostname, shown)
    if port == 0:
        raise ValueError(f"{shown}: port 0 is not a port; use 1 to 65535")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown} must not have a query or fragment")
    path = parts.path.rstrip("/")
    netloc = parts.netloc.removesuffix(":")  # "host:" is an empty port
    warnings: list[str] = []
    if path in _API_PATHS:
        warnings.append(f"give the base URL without {parts.path.rstrip('/')}; using "
                        f"{redact_url(f'{parts.scheme}://{netloc}')}")
    elif path:
        raise ValueError(f"{shown} has a path ({show(path)}); give the server's base URL "
                         f"(like {EXAMPLE}), without the web app's pages")
    if parts.scheme == "http" and hostname not in _LOOPBACK_HOSTS:
        warnings.append("plain http sends the API key unencrypted; use https")
    return f"{parts.scheme}://{netloc}", warnings


def _why(message: str, text: str) -> str:
    if "IPv6" in message:
        if "]" in text:
            return "what is in [ ] must be an IPv6 address"
        return "an IPv6 address needs its closing ]"
    if "Port" in message or "port" in message:
        return "the port must be a number from 1 to 65535"
    return "it cannot be read"


def _check_host(parts: SplitResult, hostname: str, shown: str) -> None:
    host_text = parts.netloc.rpartition("@")[2]
    if host_text.startswith("["):
        if not _BRACKETED.fullmatch(host_text):
            raise ValueError(f"{shown}: nothing but a :port may follow the ] of an IPv6 "
                             "address")
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise ValueError(f"{shown}: [{hostname}] is not an IPv6 address") from None
        return
    if _DOTTED_NUMBERS.fullmatch(hostname):
        try:
            ipaddress.IPv4Address(hostname)
        except ValueError:
            raise ValueError(f"{shown}: {hostname} is not an IPv4 address") from None
        return
    name = hostname.removesuffix(".")
    labels = name.split(".")
    try:
        ascii_labels = [label if label.isascii() else label.encode("idna").decode("ascii")
                        for label in labels]
    except UnicodeError:
        ascii_labels = []
    if not ascii_labels or len(name) > 253 or not all(_LABEL.fullmatch(label)
                                                     for label in ascii_labels):
        raise ValueError(f"{shown}: {show(hostname)} is not a host name (letters, digits, "
                         "hyphens and dots)")
