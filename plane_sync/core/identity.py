"""Which local file an attachment is, and the name Plane shows for it.

Identity lives in ``external_id``, never in the attachment name: Plane keeps only a cleaned
base name, so names may collide, but two different files can never share an external id.

External id format, version 1 (``v1``)::

    v1:<path key>:<content key>:<rel path hint>

- ``path key``: the first 32 hex digits (128 bits) of SHA-256 over the UTF-8 bytes of the
  **NFC-normalised** POSIX path relative to the folder root. NFC makes a macOS (NFD) name and
  a Linux (NFC) name of the same file one file.
- ``content key``: the file's full SHA-256, 64 lowercase hex digits (256 bits), so it can be
  compared with a scan or a download without any truncation argument.
- ``rel path hint``: the NFC path itself, for people reading the attachment list and for
  log lines about files that are gone. It is cut in the middle (``…``) to fit, so it is only
  a hint: the path key decides. Characters that cannot travel as text (control characters,
  undecodable bytes) become ``\\ufffd``.

The whole id stays within 255 characters **and** 255 UTF-8 bytes (Plane's
``CharField(max_length=255)`` counts characters; bytes keep us safe on any backend).
The hint may contain ``:``; parsing splits on the first three colons only.

Attachment names (see :func:`attachment_name_for`) join the folders with ``" ⁄ "``
(U+2044 FRACTION SLASH between spaces): it reads like a path to a person, it is neither
``/`` nor ``\\`` so Plane's ``sanitize_filename`` keeps it, it is unchanged by NFC and NFKC,
and every desktop OS accepts it in a downloaded file name. ``docs__specs__a.pdf`` was the
alternative; it is ASCII but cannot be told apart from names that contain ``__`` and reads
worse.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from dataclasses import dataclass

from plane_sync.core.display import BIDI_CONTROLS

VERSION = "v1"
MAX_EXTERNAL_ID = 255
MAX_NAME_CHARS = 200
PATH_KEY_HEX = 32
CONTENT_KEY_HEX = 64
FOLDER_SEPARATOR = " \u2044 "
ELLIPSIS = "\u2026"
REPLACEMENT = "\ufffd"
FALLBACK_NAME = "unnamed"

_HEX = re.compile(r"[0-9a-f]+")
_NO_BIDI = dict.fromkeys(map(ord, BIDI_CONTROLS), REPLACEMENT)
_DOT_RUNS = re.compile(r"\.{2,}")
# The longest extension kept whole when a long name is cut in the middle.
_MAX_EXTENSION = 40


@dataclass(frozen=True)
class FileIdentity:
    """What an external id we made says about its file."""

    path_key: str
    content_key: str  # the file's SHA-256, hex
    rel_path_hint: str  # the path, possibly cut in the middle

    @property
    def hint_is_exact(self) -> bool:
        """True when the hint is the whole path (it hashes to the path key)."""
        return path_key_for(self.rel_path_hint) == self.path_key


def normalize_rel_path(rel_path: str) -> str:
    """The canonical form of a relative path: NFC, as every key is computed from it."""
    return unicodedata.normalize("NFC", rel_path)


def _utf8(text: str) -> bytes:
    # Paths from os.fsdecode carry undecodable bytes as lone surrogates; surrogateescape
    # turns them back into the original bytes, so such a file still has a stable key.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def path_key_for(rel_path: str) -> str:
    """128-bit key of a relative path, the same for its NFC and NFD spellings."""
    digest = hashlib.sha256(_utf8(normalize_rel_path(rel_path))).hexdigest()
    return digest[:PATH_KEY_HEX]


def _printable(text: str) -> str:
    """Replace what cannot travel as JSON text or in a header: controls and surrogates."""
    if text.isprintable():  # the common case, and much faster than the loop
        return text
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        out.append(REPLACEMENT if category in ("Cc", "Cs") else ch)
    return "".join(out)


def _cut_middle_bytes(text: str, max_bytes: int) -> str:
    """Keep the head and tail of ``text`` with ``…`` between, in at most ``max_bytes``."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    budget = max_bytes - len(ELLIPSIS.encode("utf-8"))
    head_budget = budget // 2
    tail_budget = budget - head_budget
    head: list[str] = []
    used = 0
    for ch in text:
        size = len(ch.encode("utf-8"))
        if used + size > head_budget:
            break
        head.append(ch)
        used += size
    tail: list[str] = []
    used = 0
    for ch in reversed(text):
        size = len(ch.encode("utf-8"))
        if used + size > tail_budget:
            break
        tail.append(ch)
        used += size
    return "".join(head) + ELLIPSIS + "".join(reversed(tail))


def external_id_for(rel_path: str, sha256: str) -> str:
    """The external id of the file at ``rel_path`` with content ``sha256`` (hex)."""
    content_key = sha256.lower()
    if len(content_key) != CONTENT_KEY_HEX or not _HEX.fullmatch(content_key):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    prefix = f"{VERSION}:{path_key_for(rel_path)}:{content_key}:"
    # Every character of the prefix is ASCII, so characters == bytes here.
    hint = _cut_middle_bytes(_printable(normalize_rel_path(rel_path)),
                             MAX_EXTERNAL_ID - len(prefix))
    return prefix + hint


def parse_external_id(external_id: str | None) -> FileIdentity | None:
    """Read an id made by :func:`external_id_for`; ``None`` for anything else."""
    if not external_id:
        return None
    parts = external_id.split(":", 3)
    if len(parts) != 4:
        return None
    version, path_key, content_key, hint = parts
    if version != VERSION:
        return None
    if len(path_key) != PATH_KEY_HEX or not _HEX.fullmatch(path_key):
        return None
    if len(content_key) != CONTENT_KEY_HEX or not _HEX.fullmatch(content_key):
        return None
    return FileIdentity(path_key=path_key, content_key=content_key, rel_path_hint=hint)


def plane_sanitize(name: str) -> str | None:
    """Plane's ``sanitize_filename`` (v1.3.1+), as the server applies it to attachment names.

    Strips NUL, turns ``\\`` into ``/`` and keeps the base name, removes every ``..``, trims
    whitespace and strips leading dots; ``None`` when nothing is left (Plane answers 400).
    """
    cleaned = name.replace("\x00", "").replace("\\", "/")
    cleaned = posixpath.basename(cleaned)
    cleaned = cleaned.replace("..", "")
    cleaned = cleaned.strip()
    cleaned = cleaned.lstrip(".")
    return cleaned or None


def _clean_segment(segment: str) -> str:
    # Plane would cut the name at a backslash and delete "..": make both harmless first.
    # Bidi controls go too: "rtl<U+202E>txt.exe" would read "rtlexe.txt" in Plane's UI.
    segment = _printable(segment).translate(_NO_BIDI).replace("\\", "_")
    return _DOT_RUNS.sub(".", segment)


def _cut_middle_chars(name: str, max_chars: int) -> str:
    """Cut ``name`` in the middle to ``max_chars``, keeping a short extension whole."""
    if len(name) <= max_chars:
        return name
    dot = name.rfind(".")
    extension = name[dot:] if dot > 0 and len(name) - dot <= _MAX_EXTENSION else ""
    tail_len = max(len(extension), (max_chars - 1) // 3)
    head_len = max_chars - 1 - tail_len
    return name[:head_len] + ELLIPSIS + name[-tail_len:]


def attachment_name_for(rel_path: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """A readable attachment name for ``rel_path`` that Plane stores unchanged.

    ``docs/specs/a.pdf`` becomes ``docs ⁄ specs ⁄ a.pdf``. The result has no ``/``, ``\\``,
    ``..``, NUL, control or bidi characters, no leading dot or whitespace, no trailing
    whitespace, at most ``max_chars`` characters (cut in the middle, extension kept), and the
    extension last. Different paths may get the same name here; :mod:`plane_sync.core.naming`
    tells them apart among a work item's attachments.
    """
    segments = [_clean_segment(s) for s in normalize_rel_path(rel_path).split("/") if s]
    name = FOLDER_SEPARATOR.join(segments)
    # Stripping can expose a new leading dot (" .x") or space (". x"): repeat until stable.
    previous = None
    while previous != name:
        previous = name
        name = name.strip().lstrip(".")
    if not name:
        name = FALLBACK_NAME
    return _cut_middle_chars(name, max_chars)


def hand_upload_names(rel_path: str) -> set[str]:
    """Names under which a person may have uploaded this file by hand: ours for it, and for
    a file at the top of the folder its own name as Plane would store it."""
    names = {attachment_name_for(rel_path)}
    if "/" not in rel_path:
        names.add(rel_path)
        sanitized = plane_sanitize(rel_path)
        if sanitized:
            names.add(sanitized)
    return names
