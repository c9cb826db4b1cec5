"""Check a browser-based (presigned) POST against its policy, the way S3 does.

moto accepts every POST whatever the policy says; this module is why the emulator's storage
refuses what real S3/MinIO refuse: bad signature, expired policy, a field that differs from
its condition, a field no condition covers, and a file outside content-length-range.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plane_sync.emulator.sigv4 import ALGORITHM, hmac_hex, signing_key

# Fields S3 never expects a condition for.
_UNCONDITIONED = {"policy", "x-amz-signature", "file"}


@dataclass(frozen=True)
class S3Error:
    status: int
    code: str
    message: str
    extra: tuple[tuple[str, str], ...] = ()


def _denied(message: str) -> S3Error:
    return S3Error(403, "AccessDenied", message)


def _condition_text(operator: str, name: str, value: object) -> str:
    return json.dumps([operator, f"${name}", value])


def check_post(
    fields: Sequence[tuple[str, str]],
    file_size: int,
    bucket: str,
    secret_for: Callable[[str], str | None],
    now: dt.datetime,
) -> S3Error | None:
    """Return the error S3 would answer, or ``None`` when the upload is allowed."""
    form = {name.lower(): value for name, value in fields}
    form["bucket"] = bucket
    if "key" not in form:
        return S3Error(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
    for required in ("policy", "x-amz-signature", "x-amz-credential", "x-amz-date"):
        if required not in form:
            return _denied(f"Bucket POST must contain a field named '{required}'.")
    if form.get("x-amz-algorithm") != ALGORITHM:
        return S3Error(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported.")
    access_key, _, scope = form["x-amz-credential"].partition("/")
    datestamp, region = ([*scope.split("/"), "", ""])[:2]
    secret = secret_for(access_key)
    if secret is None:
        return S3Error(
            403, "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    expected = hmac_hex(signing_key(secret, datestamp, region), form["policy"])
    if not hmac.compare_digest(expected, form["x-amz-signature"]):
        return S3Error(
            403, "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    try:
        document = json.loads(base64.b64decode(form["policy"], validate=True))
        expiration = dt.datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%S%z")
        conditions = list(document["conditions"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if now >= expiration:
        return _denied("Invalid according to Policy: Policy expired.")
    covered: set[str] = set()
    length_range: tuple[float, float] | None = None
    for condition in conditions:
        if isinstance(condition, dict):
            for name, value in condition.items():
                covered.add(name.lower())
                if form.get(name.lower()) != value:
                    return _denied(
                        "Invalid according to Policy: Policy Condition failed: "
                        + _condition_text("eq", name, value)
                    )
        elif isinstance(condition, list) and len(condition) == 3:
            operator = str(condition[0]).lower()
            if operator == "content-length-range":
                length_range = (float(condition[1]), float(condition[2]))
                continue
            name = str(condition[1]).lstrip("$")
            covered.add(name.lower())
            actual = form.get(name.lower())
            ok = (
                actual == condition[2]
                if operator == "eq"
                else actual is not None and actual.startswith(str(condition[2]))
            )
            if not ok:
                return _denied(
                    "Invalid according to Policy: Policy Condition failed: "
                    + _condition_text(operator, name, condition[2])
                )
    extra = [
        name for name, _ in fields
        if name.lower() not in covered | _UNCONDITIONED and not name.lower().startswith("x-ignore-")
    ]
    if extra:
        return _denied("Invalid according to Policy: Extra input fields: " + ", ".join(extra))
    if length_range is not None:
        low, high = length_range
        if file_size > high:
            return S3Error(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                (("ProposedSize", str(file_size)), ("MaxSizeAllowed", _number(high))),
            )
        if file_size < low:
            return S3Error(
                400, "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                (("ProposedSize", str(file_size)), ("MinSizeAllowed", _number(low))),
            )
    return None


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
