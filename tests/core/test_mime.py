from __future__ import annotations

import pytest

from plane_sync.core.mime import FALLBACK, PLANE_ALLOWED, mime_type_for


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "application/pdf"),
        ("notes.md", "text/markdown"),
        ("Notes.TXT", "text/plain"),
        ("photo.jpeg", "image/jpeg"),
        ("backup.tar.gz", "application/gzip"),
        ("sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("config.yaml", FALLBACK),  # application/x-yaml is not on Plane's list
        ("page.html", FALLBACK),  # text/html is not on Plane's list
        ("data.unknownext", FALLBACK),
        ("Makefile", FALLBACK),
    ],
)
def test_mime_type_is_on_planes_allowlist(name: str, expected: str) -> None:
    got = mime_type_for(name)
    assert got == expected
    assert got in PLANE_ALLOWED


def test_no_parameters_ever() -> None:
    # Plane compares exactly: "text/plain; charset=utf-8" is refused.
    assert all(";" not in t for t in PLANE_ALLOWED)
