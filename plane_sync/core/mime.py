"""Pick the MIME type Plane will accept for a file name.

Plane compares ``type`` exactly against its allowlist (``settings.ATTACHMENT_MIME_TYPES``);
anything else is refused with 400 "Invalid file type.". ``application/octet-stream`` is on the
list, so it is the fallback for every type Plane does not know.
"""

from __future__ import annotations

import mimetypes

FALLBACK = "application/octet-stream"

# Plane's allowlist (apps/api/plane/settings/common.py). text/markdown arrived in v1.2.2;
# older servers refuse it, which the client handles by retrying with FALLBACK.
PLANE_ALLOWED: frozenset[str] = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/svg+xml", "image/webp", "image/tiff",
    "image/bmp", "application/pdf", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain", "application/rtf", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.graphics", "application/vnd.visio",
    "image/x-portable-graymap", "image/x-portable-bitmap", "image/x-portable-pixmap",
    "application/vnd.oasis.opendocument.database", "audio/mpeg", "audio/wav", "audio/ogg",
    "audio/midi", "audio/x-midi", "audio/aac", "audio/flac", "audio/x-m4a", "video/mp4",
    "video/mpeg", "video/ogg", "video/webm", "video/quicktime", "video/x-msvideo",
    "video/x-ms-wmv", "application/zip", "application/x-rar", "application/x-rar-compressed",
    "application/x-tar", "application/gzip", "application/x-zip", "application/x-zip-compressed",
    "application/x-7z-compressed", "application/x-compressed", "application/x-compressed-tar",
    "application/x-compressed-tar-gz", "application/x-compressed-tar-bz2",
    "application/x-compressed-tar-zip", "application/x-compressed-tar-7z",
    "application/x-compressed-tar-rar", "model/gltf-binary", "model/gltf+json", FALLBACK,
    "font/ttf", "font/otf", "font/woff", "font/woff2", "text/css", "text/javascript",
    "application/json", "text/xml", "text/csv", "application/xml", "application/x-sql",
    "application/x-gzip", "text/markdown",
})

# Extensions whose stdlib guess is missing or differs from the name Plane lists.
_OVERRIDES: dict[str, str] = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".log": "text/plain",
    ".wav": "audio/wav",
    ".m4a": "audio/x-m4a",
    ".flac": "audio/flac",
    ".7z": "application/x-7z-compressed",
    ".rar": "application/x-rar",
    ".sql": "application/x-sql",
    ".js": "text/javascript",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".vsdx": "application/vnd.visio",
    ".vsd": "application/vnd.visio",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".odg": "application/vnd.oasis.opendocument.graphics",
    ".odb": "application/vnd.oasis.opendocument.database",
    ".rtf": "application/rtf",
    ".webp": "image/webp",
}

# A private database, so the host's /etc/mime.types cannot change what we send.
_DB = mimetypes.MimeTypes(filenames=())


def mime_type_for(name: str) -> str:
    """Return the allowlisted MIME type for ``name``, or ``application/octet-stream``."""
    lower = name.lower()
    dot = lower.rfind(".")
    ext = lower[dot:] if dot > 0 else ""
    guess = _OVERRIDES.get(ext)
    if guess is None:
        guess, _ = _DB.guess_type(lower, strict=False)
    if guess is None or guess not in PLANE_ALLOWED:
        return FALLBACK
    return guess
