"""Pure parsers for configuration values: durations, rates, sizes, identifiers, ${VAR}.

Each parser takes a raw YAML value and returns the typed value or raises ``ValueError``
whose text completes "<place>: ..." in a problem list. No I/O, no config structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

# Every spelling of a time unit we accept, in seconds. Shared by durations and rate limits.
_TIME_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(rf"\s*{_NUMBER}\s*")

_SIZE = re.compile(rf"\s*({_NUMBER})\s*([a-z]*)\s*", re.IGNORECASE)
_SIZE_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3,
}  # fmt: skip

# A Plane project identifier is up to 12 letters/digits; the work item adds "-<sequence>".
_IDENTIFIER = re.compile(r"([A-Za-z0-9]{1,12})-([0-9]+)")
MAX_SEQUENCE = 2**31 - 1
_SUBFOLDER = re.compile(r"([A-Za-z0-9]{1,12})-([0-9]+)(?:\s.*)?", re.DOTALL)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_API_KEY_SHAPE = re.compile(r"plane_api_[0-9a-f]+")

# "$$" escapes a dollar; ${NAME} and ${NAME:-default} are references. Anything else with
# "${" is malformed and reported rather than passed through silently.
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

DURATION_HINT = 'use seconds, or a string like "30s", "2m", "1h"'

# Upper bounds, checked at load. Beyond them a value is a slip ("200000d"), and some would
# overflow a thread wait (threading.TIMEOUT_MAX) or a timestamp.
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
MAX_SETTLE = HOUR
MAX_POLL_INTERVAL = DAY
MAX_RESCAN_INTERVAL = 7 * DAY
MAX_TIMEOUT = HOUR
MAX_PASS_AGE = 30 * DAY  # metrics.max_pass_age
MAX_REHASH_INTERVAL = 365 * DAY
MAX_IO_TIMEOUT = HOUR
MAX_TRASH_KEEP = 365 * DAY
MAX_RATE_PERIOD = DAY
MAX_RATE_REQUESTS = 1_000_000
MAX_FILE_SIZE_LIMIT = 5 * 1024**3  # S3 takes at most 5 GiB in one POST upload
MAX_UPLOAD_WORKERS = 16  # the rate limit, not threads, bounds uploads; more only waits


class MalformedReference(ValueError):
    """A "${" that does not start ${NAME} or ${NAME:-default}."""


def show(value: object, limit: int = 60) -> str:
    """Render a YAML value for a problem message: strings quoted, containers by kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return kind(value)


def kind(value: object) -> str:
    """A value's kind in words, for messages that must not show the value itself."""
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def substitute_env(value: str, env: Mapping[str, str]) -> tuple[str, bool]:
    """Replace ${NAME} / ${NAME:-default} / $$ in ``value``.

    Returns the text and whether any of it came from the file itself (literal text or a
    default), which tells whether a secret is written in the file. Like the shell, the
    default is used when the variable is unset or empty.
    """
    parts: list[str] = []
    from_file = False
    missing: list[str] = []
    pos = 0
    for match in _REFERENCE.finditer(value):
        literal = value[pos : match.start()]
        _reject_malformed(literal)
        parts.append(literal)
        from_file = from_file or bool(literal.strip())
        pos = match.end()
        if match.group(0) == "$$":
            parts.append("$")
            from_file = True
            continue
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                missing.append(name)
                continue
            parts.append(default)
            from_file = from_file or bool(default)
        else:
            parts.append(found)
    tail = value[pos:]
    _reject_malformed(tail)
    parts.append(tail)
    from_file = from_file or bool(tail.strip())
    if missing:
        if len(missing) == 1:
            raise ValueError(f"environment variable {missing[0]} is not set")
        raise ValueError(f"environment variables {', '.join(missing)} are not set")
    return "".join(parts), from_file


def _reject_malformed(literal: str) -> None:
    if "${" in literal:
        raise MalformedReference(
            "has a malformed ${...} reference (write ${NAME} or ${NAME:-default})"
        )


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "30s", "2m", "1h30m", "500ms", "45"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration, got {show(value)} ({DURATION_HINT})")
    if isinstance(value, str):
        seconds = _duration_from_text(value)
        if seconds is None:
            raise ValueError(f"{show(value)} is not a duration ({DURATION_HINT})")
    else:
        seconds = float(value)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{show(value)} must be a finite duration of zero or more")
    return seconds


def describe_seconds(seconds: float) -> str:
    """86400 -> "1 day (86400 s)": a bound in words."""
    for unit, size in (("day", DAY), ("hour", HOUR), ("minute", MINUTE)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ({seconds:.0f} s)"
    return f"{seconds:g} s"


def _duration_from_text(text: str) -> float | None:
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        unit = _TIME_UNITS.get(match.group(2).lower())
        if match.start() != pos or unit is None:
            return None
        total += float(match.group(1)) * unit
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def parse_rate_limit(value: object) -> tuple[int, float]:
    """(requests, period seconds) from "60/minute", "60/min", "100/60s", "5/2m"."""
    problem = f'{show(value)} is not a rate like "60/minute" or "60/60s"'
    if not isinstance(value, str) or value.count("/") != 1:
        raise ValueError(problem)
    count_text, period_text = (part.strip() for part in value.split("/"))
    if not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(problem)
    period: float | None = _TIME_UNITS.get(period_text.lower())
    if period is None:
        period = _duration_from_text(period_text)
    if period is None or period <= 0:
        raise ValueError(problem)
    if len(count_text) > 7 or int(count_text) > MAX_RATE_REQUESTS:
        raise ValueError(f"{show(value)}: at most {MAX_RATE_REQUESTS} requests per period")
    if period > MAX_RATE_PERIOD:
        raise ValueError(f"{show(value)}: the period may be at most "
                         f"{describe_seconds(MAX_RATE_PERIOD)}")
    return int(count_text), float(period)


def parse_share(value: object) -> float:
    """A share of a whole from "10%" or a fraction like 0.1: more than 0, at most 1."""
    problem = f'{show(value)} is not a share (write "10%" or 0.1)'
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        if percent:
            text = text[:-1].strip()
        if not _PLAIN_NUMBER.fullmatch(text):
            raise ValueError(problem)
        share = float(text) / (100 if percent else 1)
    elif isinstance(value, int | float):
        share = float(value)
    else:
        raise ValueError(problem)
    if not 0 < share <= 1:
        raise ValueError(f"{show(value)} must be more than 0 and at most 100%")
    return share


def parse_count(value: object, *, least: int, most: int) -> int:
    """A whole number from ``least`` to ``most``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{show(value)} is not a whole number")
    if not least <= value <= most:
        raise ValueError(f"{show(value)} must be from {least} to {most}")
    return value


def parse_size(value: object) -> int:
    """Bytes from an integer or "5MiB", "5 MB", "500k" (k/M/G are binary, kB/MB/GB decimal)."""
    problem = f'{show(value)} is not a size in bytes (e.g. 5242880, "5MiB" or "100MB")'
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        factor = _SIZE_UNITS.get(match.group(2).lower())
        if factor is None:
            raise ValueError(problem)
        amount = float(match.group(1)) * factor
        if amount != amount or amount == float("inf"):
            raise ValueError(problem)
        size = int(amount)
    else:
        raise ValueError(problem)
    if size < 1:
        raise ValueError(f"{show(value)} must be at least 1 byte")
    if size > MAX_FILE_SIZE_LIMIT:
        raise ValueError(f"{show(value)} is more than 5 GiB, the most S3-compatible storage "
                         "takes in one upload")
    return size


def normalize_identifier(text: str) -> str | None:
    """ "proj-012" -> "PROJ-12"; None if ``text`` is not a work item identifier (the number
    included: 1 to MAX_SEQUENCE)."""
    match = _IDENTIFIER.fullmatch(text)
    if match is None or identifier_number_problem(match.group(2)) is not None:
        return None
    return f"{match.group(1).upper()}-{int(match.group(2))}"


def identifier_number_problem(digits: str) -> str | None:
    """Why the number of an identifier like PROJ-<digits> cannot name a work item, or None.

    Plane numbers work items from 1 in a PostgreSQL integer: 0 and anything over
    2147483647 exist nowhere, and a request for them fails far from the config."""
    digits = digits.lstrip("0")
    if not digits:
        return "work item numbers start at 1"
    if len(digits) > 10 or int(digits) > MAX_SEQUENCE:
        return f"the number is larger than any work item's (at most {MAX_SEQUENCE})"
    return None


def parse_subfolder_name(name: str) -> str | None:
    """The work item a subfolder maps to: "PROJ-42", "PROJ-42 anything", "proj-42 x" -> "PROJ-42".

    Anything else ("notes", "PROJ-42_x", "PROJ-0") maps to nothing and returns None.
    """
    match = _SUBFOLDER.fullmatch(name)
    if match is None or identifier_number_problem(match.group(2)) is not None:
        return None
    return f"{match.group(1).upper()}-{int(match.group(2))}"


def normalize_uuid(text: str) -> str | None:
    """Lower-cased canonical UUID, or None if ``text`` is not one."""
    return text.lower() if _UUID.fullmatch(text) else None


def looks_like_api_key(key: str) -> bool:
    return _API_KEY_SHAPE.fullmatch(key) is not None
