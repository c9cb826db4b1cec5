"""One exception tree for plane-sync.

Every error carries a short ``title`` (what went wrong, in a few words) and a
``message`` that tells the user what to do about it. The CLI prints both and maps
the class to an exit code; nothing below ever includes the API key.

    PlaneSyncError
    ├── ConfigError                 bad configuration: every problem, each with its place (exit 2)
    ├── PlaneError                  the Plane API answered something we cannot use
    │   ├── PlaneUnreachable        connect error / timeout after all retries (exit 3)
    │   │   └── NotPlane            the URL answers, but not as Plane does (exit 3)
    │   ├── AuthError               the API key was rejected or missing (exit 3)
    │   ├── PermissionDenied        the key is valid but may not do this (403)
    │   ├── NotFound                the work item / attachment does not exist (404)
    │   ├── RateLimited             still 429 after all retries
    │   ├── ServerError             still 5xx after all retries
    │   ├── BadRequest              400 from Plane
    │   │   └── InvalidFileType     400 "Invalid file type."
    │   └── UnexpectedResponse      a status or body the contract does not allow
    ├── UploadError                 one of the three upload steps failed; ``step`` names it
    │   ├── StorageRejected         the storage host refused the POST (policy, size, expiry)
    │   └── FileChangedDuringUpload the bytes sent do not hash to what was declared
    ├── LocalFileError              a local file cannot be uploaded (empty, too large, unreadable)
    ├── StateError                  the state database is unusable
    └── Interrupted                 a wait was cut short because the daemon is stopping
"""

from __future__ import annotations

from typing import ClassVar


class PlaneSyncError(Exception):
    """Base of every error plane-sync raises on purpose."""

    title: ClassVar[str] = "plane-sync failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


class ConfigError(PlaneSyncError):
    """The configuration is invalid; ``problems`` lists every problem with its place."""

    title = "Invalid configuration"

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s){where}:\n{lines}")


class PlaneError(PlaneSyncError):
    """The Plane API did not do what was asked."""

    title = "Plane API error"

    def __init__(self, message: str, *, status: int | None = None, method: str = "",
                 path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class PlaneUnreachable(PlaneError):
    title = "Plane is unreachable"


class AuthError(PlaneError):
    title = "Plane rejected the API key"


class PermissionDenied(PlaneError):
    title = "Not allowed by Plane"


class NotFound(PlaneError):
    title = "Not found in Plane"


class RateLimited(PlaneError):
    title = "Plane rate limit"


class ServerError(PlaneError):
    title = "Plane server error"


class BadRequest(PlaneError):
    title = "Plane refused the request"


class InvalidFileType(BadRequest):
    title = "Plane refused the file type"


class UnexpectedResponse(PlaneError):
    title = "Unexpected answer from Plane"


class NotPlane(PlaneUnreachable, UnexpectedResponse):
    """Something answers at the URL, but not Plane's API (a web app, another server)."""

    title = "Not a Plane server"


class UploadError(PlaneSyncError):
    """An upload failed; ``step`` is one of ``create``, ``storage``, ``complete``."""

    title = "Upload failed"

    def __init__(self, message: str, *, step: str, path: str = "",
                 attachment_id: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.path = path
        self.attachment_id = attachment_id


class StorageRejected(UploadError):
    title = "Storage refused the upload"

    def __init__(self, message: str, *, status: int, code: str = "", path: str = "",
                 attachment_id: str | None = None, expired_policy: bool = False,
                 cause: str = "") -> None:
        super().__init__(message, step="storage", path=path, attachment_id=attachment_id)
        self.status = status
        self.code = code
        self.expired_policy = expired_policy  # any other file would fail the same way
        self.cause = cause  # why, in one sentence, when it could be told


class FileChangedDuringUpload(UploadError):
    title = "File changed during upload"


class LocalFileError(PlaneSyncError):
    """A local file cannot be uploaded; ``reason`` is a short machine-friendly tag."""

    title = "File cannot be uploaded"

    def __init__(self, message: str, *, path: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class StateError(PlaneSyncError):
    title = "State database error"


class Interrupted(PlaneSyncError):
    """Raised from a wait (rate limit, backoff) once a stop was requested; what was cut off
    is journalled, and the next start finishes it."""

    title = "Stopped"
