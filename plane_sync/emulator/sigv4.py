"""AWS Signature Version 4 pieces the emulator needs: POST policies and presigned GET URLs.

Written from the public SigV4 description (HMAC-SHA256 key chain over date, region, service).
The same functions sign (API side) and verify (storage side), so a client that sends the
fields verbatim passes, and any change to a signed value fails like it would on S3.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
POLICY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # the secret stays out of reprs and logs
        return f"Credentials(access_key={self.access_key!r}, region={self.region!r})"


def signing_key(secret_key: str, datestamp: str, region: str, service: str = "s3") -> bytes:
    key = hmac.new(("AWS4" + secret_key).encode(), datestamp.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def credential_scope(creds: Credentials, datestamp: str) -> str:
    return f"{datestamp}/{creds.region}/s3/aws4_request"


def presigned_post_fields(
    creds: Credentials,
    bucket: str,
    key: str,
    content_type: str,
    size_limit: float,
    now: dt.datetime,
    expires_in: float = 3600,
) -> dict[str, str]:
    """The form fields of a presigned POST, in the key order Plane (boto3) returns them."""
    amz_date = now.strftime(AMZ_DATE_FORMAT)
    credential = f"{creds.access_key}/{credential_scope(creds, amz_date[:8])}"
    expiration = (now + dt.timedelta(seconds=expires_in)).strftime(POLICY_TIME_FORMAT)
    conditions: list[object] = [
        {"bucket": bucket},
        ["content-length-range", 1, size_limit],
        {"Content-Type": content_type},
        {"key": key},
        {"bucket": bucket},
        {"key": key},
        {"x-amz-algorithm": ALGORITHM},
        {"x-amz-credential": credential},
        {"x-amz-date": amz_date},
    ]
    document = json.dumps({"expiration": expiration, "conditions": conditions})
    policy = base64.b64encode(document.encode()).decode()
    signature = hmac_hex(signing_key(creds.secret_key, amz_date[:8], creds.region), policy)
    return {
        "Content-Type": content_type,
        "key": key,
        "x-amz-algorithm": ALGORITHM,
        "x-amz-credential": credential,
        "x-amz-date": amz_date,
        "policy": policy,
        "x-amz-signature": signature,
    }


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe="/-_.~" if keep_slash else "-_.~")


def canonical_query(params: Sequence[tuple[str, str]]) -> str:
    encoded = sorted((_uri_encode(k), _uri_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def get_signature(
    secret_key: str,
    region: str,
    amz_date: str,
    host: str,
    raw_path: str,
    params: Sequence[tuple[str, str]],
) -> str:
    """Signature of a presigned GET; ``raw_path`` is the unencoded path (``/bucket/key``)."""
    canonical_request = "\n".join([
        "GET",
        _uri_encode(raw_path, keep_slash=True),
        canonical_query(params),
        f"host:{host}\n",
        "host",
        "UNSIGNED-PAYLOAD",
    ])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()
    ])
    return hmac_hex(signing_key(secret_key, amz_date[:8], region), string_to_sign)


def presigned_get_url(
    creds: Credentials,
    endpoint: str,
    bucket: str,
    key: str,
    extra_params: Sequence[tuple[str, str]],
    now: dt.datetime,
    expires_in: int = 3600,
) -> str:
    """A presigned GET URL (path style), query in botocore's order: extras, then X-Amz-*."""
    amz_date = now.strftime(AMZ_DATE_FORMAT)
    host = urlsplit(endpoint).netloc
    raw_path = f"/{bucket}/{key}"
    params = [
        *extra_params,
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{creds.access_key}/{credential_scope(creds, amz_date[:8])}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    signature = get_signature(creds.secret_key, creds.region, amz_date, host, raw_path, params)
    query = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in params)
    path = _uri_encode(raw_path, keep_slash=True)
    return f"{endpoint.rstrip('/')}{path}?{query}&X-Amz-Signature={signature}"
