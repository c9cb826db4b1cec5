"""``verify --deep``: the bytes on the storage host are compared, not only the ids.

The one thing only ``--deep`` can find is an attachment whose external id names the file's
current content while the stored bytes are something else (damaged or replaced on the storage
host). A real server cannot be made to do that through its API, so the download is a function
here; the end-to-end ``--deep`` run is in tests/reliability/test_truthful_state.py.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from plane_sync.core.identity import external_id_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.sync.verify import Rules, compare, deep_check

CONTENT = b"the file's bytes\n"


def file_and_its_attachment() -> tuple[LocalFile, RemoteAttachment]:
    sha = hashlib.sha256(CONTENT).hexdigest()
    md5 = hashlib.md5(CONTENT, usedforsecurity=False).hexdigest()
    file = LocalFile("a.txt", len(CONTENT), 1, sha, md5)
    attachment = RemoteAttachment("att-1", "a.txt", len(CONTENT), "text/plain",
                                  external_source="plane-sync",
                                  external_id=external_id_for("a.txt", sha))
    return file, attachment


def serving(body: bytes) -> tuple[list[str], object]:
    asked: list[str] = []

    def download(attachment_id: str, sink: BinaryIO) -> int:
        asked.append(attachment_id)
        sink.write(body[:5])
        sink.write(body[5:])
        return len(body)

    return asked, download


def test_stored_bytes_that_are_not_the_file_are_stale_though_the_ids_agree() -> None:
    file, attachment = file_and_its_attachment()
    differences, matched = compare([file], [attachment],
                                   Rules(external_source="plane-sync", size_limit=10**6))
    assert differences == [] and matched == {"a.txt": attachment}  # the cheap form agrees
    asked, download = serving(b"something else\n")
    (stale,) = deep_check(matched, [file], download)  # type: ignore[arg-type]
    assert asked == ["att-1"]
    assert (stale.kind, stale.path) == ("stale", "a.txt")
    assert "15 bytes" in stale.detail


def test_stored_bytes_that_are_the_file_are_no_difference() -> None:
    file, attachment = file_and_its_attachment()
    _, download = serving(CONTENT)
    assert deep_check({"a.txt": attachment}, [file], download) == []  # type: ignore[arg-type]
