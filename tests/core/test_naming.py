"""Attachment names are unique per work item among our attachments, stable and readable."""

from __future__ import annotations

import hashlib
import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plane_sync.core.identity import (
    MAX_NAME_CHARS,
    attachment_name_for,
    external_id_for,
    path_key_for,
    plane_sanitize,
)
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.naming import plain_name, renders_exactly, tagged_name, unique_names
from plane_sync.core.reconcile import Policy, Upload, plan

SOURCE = "plane-sync"


def local(rel_path: str, content: bytes = b"v1") -> LocalFile:
    return LocalFile(rel_path=rel_path, size=len(content), mtime_ns=0,
                     sha256=hashlib.sha256(content).hexdigest(),
                     md5=hashlib.md5(content).hexdigest())  # noqa: S324 - ETag, not security


def ours(rel_path: str, name: str, content: bytes = b"v1") -> RemoteAttachment:
    return RemoteAttachment(
        id=f"ours-{rel_path}", name=name, size=len(content), mime_type="text/plain",
        external_source=SOURCE,
        external_id=external_id_for(rel_path, hashlib.sha256(content).hexdigest()))


def tag(rel_path: str) -> str:
    return path_key_for(rel_path)[:6]


def upload_names(actions: list[object]) -> dict[str, str]:
    return {a.file.rel_path: a.name for a in actions if isinstance(a, Upload)}


# The collisions and a few more: (the path that renders exactly, the lossy one).
COLLISIONS = [
    ("a.b.txt", "a..b.txt"),  # Plane deletes ".."
    ("a/b.txt", "a \u2044 b.txt"),  # a literal fraction slash reads like a folder
    ("a_b.txt", "a\\b.txt"),  # a backslash becomes "_"
    ("x.txt", ".x.txt"),  # a leading dot is stripped
    ("r\ufffdtl.txt", "r\u202etl.txt"),  # bidi controls become U+FFFD
    ("tab.txt", " tab.txt"),  # edge spaces are stripped
]


@pytest.mark.parametrize(("exact", "lossy"), COLLISIONS)
def test_a_collision_keeps_the_exact_name_and_tags_the_other(exact: str, lossy: str) -> None:
    assert plain_name(exact) == plain_name(lossy)  # the collision this is about
    names = upload_names(plan([local(exact), local(lossy, b"other")], [], Policy()))
    assert names[exact] == plain_name(exact)
    stem, _, extension = plain_name(exact).rpartition(".")
    assert names[lossy] == f"{stem} ({tag(lossy)}).{extension}"
    assert plane_sanitize(names[lossy]) == names[lossy]


@pytest.mark.parametrize(("exact", "lossy"), COLLISIONS)
def test_a_lossy_name_without_a_rival_stays_plain(exact: str, lossy: str) -> None:
    assert upload_names(plan([local(lossy)], [], Policy())) == {lossy: plain_name(lossy)}


def test_names_do_not_depend_on_order_or_on_which_files_upload_in_this_pass() -> None:
    paths = ["a.b.txt", "a..b.txt", "a...b.txt", "a/b.txt", "a \u2044 b.txt"]
    reference = unique_names(paths, paths, [])
    assert len(set(reference.values())) == len(paths)
    for order in itertools.permutations(paths):
        assert unique_names(order, reversed(order), []) == reference
    # One file at a time (the others already settled or not yet): the same name each.
    for path in paths:
        assert unique_names([path], paths, []) == {path: reference[path]}


def test_two_lossy_files_both_get_tags() -> None:
    names = unique_names(["a..b.txt", "a...b.txt"], ["a..b.txt", "a...b.txt"], [])
    assert names == {"a..b.txt": f"a.b ({tag('a..b.txt')}).txt",
                     "a...b.txt": f"a.b ({tag('a...b.txt')}).txt"}


def test_existing_attachments_keep_their_names_and_a_newcomer_steps_aside() -> None:
    # Uploaded before names were made unique: a..b.txt carries the plain name "a.b.txt".
    legacy = ours("a..b.txt", "a.b.txt")
    actions = plan([local("a..b.txt"), local("a.b.txt", b"new")], [legacy], Policy())
    assert upload_names(actions) == {"a.b.txt": f"a.b ({tag('a.b.txt')}).txt"}
    assert len(actions) == 1  # nothing renamed, nothing re-uploaded


def test_a_new_version_of_a_file_keeps_its_plain_name() -> None:
    actions = plan([local("a.b.txt", b"v2")], [ours("a.b.txt", "a.b.txt")], Policy())
    assert upload_names(actions) == {"a.b.txt": "a.b.txt"}


def test_a_file_still_being_written_claims_its_name_too() -> None:
    actions = plan([local("a..b.txt")], [], Policy(), unsettled=["a.b.txt"])
    assert upload_names(actions) == {"a..b.txt": f"a.b ({tag('a..b.txt')}).txt"}


def test_attachments_of_others_do_not_claim_names() -> None:
    theirs = RemoteAttachment(id="hand", name="a.b.txt", size=5, mime_type="text/plain")
    assert upload_names(plan([local("a..b.txt")], [theirs], Policy())) == {
        "a..b.txt": "a.b.txt"}


def test_a_tag_that_is_taken_is_lengthened() -> None:
    lossy = "a..b.txt"
    squatter = f"a.b ({tag(lossy)}).txt"  # a file literally named like the tagged name
    paths = ["a.b.txt", lossy, squatter]
    names = unique_names(paths, paths, [])
    assert names[lossy] == f"a.b ({path_key_for(lossy)[:12]}).txt"
    assert len(set(names.values())) == 3


def test_a_tagged_long_name_stays_within_the_limit() -> None:
    long = "x" * 300 + ".pdf"
    name = tagged_name(long)
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith(f" ({tag(long)}).pdf")


@pytest.mark.parametrize("rel_path", ["rtl\u202eexe.txt", "a\u2066b\u2069.txt", "\u200fx.txt"])
def test_names_hold_no_bidi_control(rel_path: str) -> None:
    name = attachment_name_for(rel_path)
    assert not set(name) & set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                               "\u2066\u2067\u2068\u2069")
    assert "\ufffd" in name


path_segments = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                        min_size=1, max_size=12)
paths = st.lists(path_segments, min_size=1, max_size=3).map("/".join)


@given(st.lists(paths, min_size=1, max_size=8, unique_by=path_key_for))
def test_names_are_unique_among_every_file_of_a_folder(rel_paths: list[str]) -> None:
    names = unique_names(rel_paths, rel_paths, [])
    assert len(set(names.values())) == len(rel_paths)
    assert all(plane_sanitize(n) == n and len(n) <= MAX_NAME_CHARS for n in names.values())


@given(paths)
def test_the_fast_exactness_check_agrees_with_the_definition(rel_path: str) -> None:
    segments = [s for s in rel_path.split("/") if s]
    joined = " \u2044 ".join(segments)
    expected = (not any("\u2044" in s for s in segments)
                and attachment_name_for(rel_path) == joined)
    if unicodedata.normalize("NFC", rel_path) == rel_path:
        assert renders_exactly(rel_path) == expected
    assert plain_name(rel_path) == attachment_name_for(rel_path)
