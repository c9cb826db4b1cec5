from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plane_sync.core.identity import (
    CONTENT_KEY_HEX,
    FALLBACK_NAME,
    MAX_EXTERNAL_ID,
    MAX_NAME_CHARS,
    PATH_KEY_HEX,
    attachment_name_for,
    external_id_for,
    parse_external_id,
    path_key_for,
    plane_sanitize,
)

SHA = hashlib.sha256(b"hello").hexdigest()
OTHER_SHA = hashlib.sha256(b"world").hexdigest()

# Any text a path segment may hold on Linux (no "/" and no NUL), including lone surrogates
# that os.fsdecode makes of undecodable bytes.
segment_text = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=()),
    min_size=1, max_size=40,
)
rel_paths = st.lists(segment_text, min_size=1, max_size=8).map("/".join)
long_rel_paths = st.lists(segment_text, min_size=1, max_size=30).map("/".join)


# --- plane_sanitize mirrors the server rule -------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("hello.txt", "hello.txt"),
    ("a/b/c.txt", "c.txt"),
    ("a\\b\\c.txt", "c.txt"),
    ("../sub dir/ü n.txt", "ü n.txt"),  # observed on a real server
    (".env", "env"),
    ("  spaced.txt  ", "spaced.txt"),
    ("a..b.txt", "ab.txt"),
    ("nul\x00.txt", "nul.txt"),
    ("...", None),
    ("dir/", None),
    ("   ", None),
])
def test_plane_sanitize_table(raw: str, expected: str | None) -> None:
    assert plane_sanitize(raw) == expected


# --- attachment names -----------------------------------------------------------------------

@pytest.mark.parametrize(("rel_path", "expected"), [
    ("a.pdf", "a.pdf"),
    ("docs/specs/a.pdf", "docs ⁄ specs ⁄ a.pdf"),
    (".env", "env"),  # what Plane itself would make of a hand upload of .env
    (".config/app.yml", "config ⁄ app.yml"),
    ("docs/.hidden", "docs ⁄ .hidden"),  # a dot inside the name is harmless
    ("v1..2/notes...txt", "v1.2 ⁄ notes.txt"),  # Plane would delete every ".."
    ("back\\slash.txt", "back_slash.txt"),  # legal on Linux; Plane would cut at it
    ("tab\there.txt", "tab\ufffdhere.txt"),
    ("...", FALLBACK_NAME),
    (" lead/trail .txt ", "lead ⁄ trail .txt"),
])
def test_attachment_name_table(rel_path: str, expected: str) -> None:
    assert attachment_name_for(rel_path) == expected
    assert plane_sanitize(expected) == expected


def test_attachment_name_is_the_same_for_nfd_and_nfc() -> None:
    nfc = unicodedata.normalize("NFC", "Café/Résumé.pdf")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert attachment_name_for(nfc) == attachment_name_for(nfd)


def test_long_name_is_cut_in_the_middle_and_keeps_extension() -> None:
    rel_path = "/".join(f"folder{i:02d}" for i in range(40)) + "/final report.pdf"
    name = attachment_name_for(rel_path)
    assert len(name) == MAX_NAME_CHARS
    assert name.startswith("folder00 ⁄ folder01")
    assert name.endswith("folder39 ⁄ final report.pdf")
    assert "…" in name


@given(rel_paths)
def test_names_survive_plane_sanitize(rel_path: str) -> None:
    name = attachment_name_for(rel_path)
    assert plane_sanitize(name) == name
    assert 0 < len(name) <= MAX_NAME_CHARS
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in name)


@given(st.lists(st.from_regex(r"[A-Za-z0-9 _-]{1,30}", fullmatch=True), min_size=1, max_size=12),
       st.from_regex(r"\.[a-z0-9]{1,8}", fullmatch=True))
def test_names_keep_the_extension_last(folders: list[str], extension: str) -> None:
    rel_path = "/".join([*folders[:-1], "x" + folders[-1].strip() + extension])
    assert attachment_name_for(rel_path).endswith(extension)


# --- external ids ---------------------------------------------------------------------------

def test_external_id_layout() -> None:
    external_id = external_id_for("docs/a.pdf", SHA)
    version, path_key, content_key, hint = external_id.split(":", 3)
    assert version == "v1"
    assert path_key == path_key_for("docs/a.pdf")
    assert len(path_key) == PATH_KEY_HEX
    assert content_key == SHA
    assert hint == "docs/a.pdf"


def test_external_id_accepts_uppercase_hex_and_rejects_garbage() -> None:
    assert external_id_for("a", SHA.upper()) == external_id_for("a", SHA)
    with pytest.raises(ValueError, match="SHA-256"):
        external_id_for("a", "not-a-digest")
    with pytest.raises(ValueError, match="SHA-256"):
        external_id_for("a", SHA[:40])


def test_nfd_and_nfc_paths_are_one_file() -> None:
    nfc = unicodedata.normalize("NFC", "Ärger/Übersicht.txt")
    nfd = unicodedata.normalize("NFD", nfc)
    assert external_id_for(nfc, SHA) == external_id_for(nfd, SHA)


def test_content_and_path_change_the_id() -> None:
    base = external_id_for("a.txt", SHA)
    assert external_id_for("a.txt", OTHER_SHA) != base
    assert external_id_for("b.txt", SHA) != base
    assert external_id_for("A.txt", SHA) != base  # paths are case-sensitive


def test_hint_with_colons_parses() -> None:
    ident = parse_external_id(external_id_for("c:/weird:name.txt", SHA))
    assert ident is not None
    assert ident.rel_path_hint == "c:/weird:name.txt"
    assert ident.hint_is_exact


@pytest.mark.parametrize("foreign", [
    None, "", "sync:hello.txt", "v2:" + "a" * 32 + ":" + SHA + ":x",
    "v1:" + "g" * 32 + ":" + SHA + ":x", "v1:" + "a" * 31 + ":" + SHA + ":x",
    "v1:" + "a" * 32 + ":" + SHA[:-1] + ":x", "v1:" + "a" * 32 + ":" + SHA,
    "v1:" + "A" * 32 + ":" + SHA + ":x",
])
def test_foreign_ids_do_not_parse(foreign: str | None) -> None:
    assert parse_external_id(foreign) is None


@given(long_rel_paths, st.binary(max_size=8))
def test_external_id_fits_and_round_trips(rel_path: str, content: bytes) -> None:
    sha = hashlib.sha256(content).hexdigest()
    external_id = external_id_for(rel_path, sha)
    assert len(external_id) <= MAX_EXTERNAL_ID
    assert len(external_id.encode("utf-8")) <= MAX_EXTERNAL_ID
    ident = parse_external_id(external_id)
    assert ident is not None
    assert ident.path_key == path_key_for(rel_path)
    assert len(ident.content_key) == CONTENT_KEY_HEX
    assert ident.content_key == sha


def test_very_long_non_ascii_path_fits() -> None:
    rel_path = "/".join(["日本語のフォルダ名"] * 60) + "/ファイル.pdf"
    external_id = external_id_for(rel_path, SHA)
    assert len(external_id.encode("utf-8")) <= MAX_EXTERNAL_ID
    ident = parse_external_id(external_id)
    assert ident is not None
    assert not ident.hint_is_exact
    assert ident.rel_path_hint.endswith("ファイル.pdf")


@given(rel_paths, rel_paths)
def test_different_paths_have_different_ids(a: str, b: str) -> None:
    nfc = unicodedata.normalize
    if nfc("NFC", a) != nfc("NFC", b):
        assert external_id_for(a, SHA) != external_id_for(b, SHA)
