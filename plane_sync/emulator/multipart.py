"""Streaming multipart/form-data parser for the storage POST.

Only the small text fields are kept in memory; the ``file`` part is written to a temporary
file while its MD5 is computed, so uploads of hundreds of MiB cost a fixed amount of RAM.
Like S3, everything after the ``file`` part is read and thrown away.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

CHUNK = 256 * 1024
MAX_HEADER_BLOCK = 16 * 1024
MAX_FIELD = 1024 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass
class SpooledFile:
    path: str
    size: int
    md5: str
    filename: str | None
    content_type: str | None

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass
class FormData:
    fields: list[tuple[str, str]] = field(default_factory=list)  # before ``file``, in order
    file: SpooledFile | None = None


def boundary_of(content_type: str) -> bytes | None:
    message = Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    found = message.get_param("boundary")
    return found.encode("latin-1") if isinstance(found, str) and found else None


def _part_headers(block: bytes) -> tuple[str | None, str | None, str | None]:
    message = Message()
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            message[name.strip()] = value.strip()
    disposition = Message()
    disposition["Content-Disposition"] = message.get("Content-Disposition", "")
    part_name = disposition.get_param("name", header="Content-Disposition")
    filename = disposition.get_param("filename", header="Content-Disposition")
    return (
        part_name if isinstance(part_name, str) else None,
        filename if isinstance(filename, str) else None,
        message.get("Content-Type"),
    )


class _Stream:
    def __init__(self, read: Callable[[int], bytes], boundary: bytes) -> None:
        self._read = read
        # A CRLF in front lets the first boundary be found like every later one.
        self.buf = bytearray(b"\r\n")
        self.delimiter = b"\r\n--" + boundary

    def fill(self) -> bool:
        chunk = self._read(CHUNK)
        self.buf += chunk
        return bool(chunk)

    def need(self, count: int) -> None:
        while len(self.buf) < count:
            if not self.fill():
                raise MultipartError("body ended early")

    def pump_until_delimiter(self, sink: Callable[[bytes], None]) -> None:
        """Pass the bytes before the next delimiter to ``sink``; consume the delimiter."""
        keep = len(self.delimiter) - 1
        while True:
            at = self.buf.find(self.delimiter)
            if at >= 0:
                if at:
                    sink(bytes(self.buf[:at]))
                del self.buf[: at + len(self.delimiter)]
                return
            if len(self.buf) > keep:
                sink(bytes(self.buf[:-keep]))
                del self.buf[:-keep]
            if not self.fill():
                raise MultipartError("missing closing boundary")

    def header_block(self) -> bytes | None:
        """After a delimiter: ``None`` at the end marker, else the part's header block."""
        self.need(2)
        if self.buf[:2] == b"--":
            return None
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEADER_BLOCK or not self.fill():
                raise MultipartError("bad part headers")
        block = bytes(self.buf[2:end])
        del self.buf[: end + 4]
        return block

    def drain(self) -> None:
        self.buf.clear()
        while self.fill():
            self.buf.clear()


def parse_form(read: Callable[[int], bytes], boundary: bytes, spool_dir: str) -> FormData:
    """Parse the body read through ``read``; the caller owns (and must discard) ``file``."""
    stream = _Stream(read, boundary)
    form = FormData()
    stream.pump_until_delimiter(lambda _preamble: None)
    while (block := stream.header_block()) is not None:
        name, filename, content_type = _part_headers(block)
        if name == "file":
            form.file = _spool(stream, spool_dir, filename, content_type)
            stream.drain()  # S3 ignores every field after the file
            return form
        value = bytearray()

        def collect(data: bytes, value: bytearray = value) -> None:
            if len(value) + len(data) > MAX_FIELD:
                raise MultipartError("form field too large")
            value += data

        stream.pump_until_delimiter(collect)
        if name is not None:
            form.fields.append((name, value.decode("utf-8", "replace")))
    stream.drain()
    return form


def _spool(
    stream: _Stream, spool_dir: str, filename: str | None, content_type: str | None
) -> SpooledFile:
    digest = hashlib.md5(usedforsecurity=False)
    fd, path = tempfile.mkstemp(prefix="upload-", dir=spool_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:

            def sink(data: bytes) -> None:
                nonlocal size
                digest.update(data)
                out.write(data)
                size += len(data)

            stream.pump_until_delimiter(sink)
    except BaseException:
        os.unlink(path)
        raise
    return SpooledFile(path, size, digest.hexdigest(), filename, content_type)
