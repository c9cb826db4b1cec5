"""The download side's decision table (direction: both), one test per branch."""

from __future__ import annotations

import hashlib

import pytest

from plane_sync.core.identity import external_id_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.twoway import (
    REASON_EXCLUDED,
    REASON_REMOVED_KEEP,
    REASON_UNPLACEABLE,
    Base,
    TwoWayPolicy,
    conflict_name,
    local_name_for,
    plan_both,
)

SOURCE = "plane-sync"


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def local(rel_path: str, content: bytes = b"v1") -> LocalFile:
    return LocalFile(rel_path=rel_path, size=len(content), mtime_ns=0, sha256=sha(content),
                     md5=hashlib.md5(content).hexdigest())  # noqa: S324 - ETag, not security


def ours(rel_path: str, content: bytes = b"v1", id: str = "a1",
         created_at: str = "2026-12-01T14:32:10Z") -> RemoteAttachment:
    return RemoteAttachment(id=id, name=rel_path.rsplit("/", 1)[-1], size=len(content),
                            mime_type="text/plain", external_source=SOURCE,
                            external_id=external_id_for(rel_path, sha(content)),
                            created_at=created_at)


def theirs(name: str, content: bytes = b"v1", id: str = "t1",
           created_at: str = "2026-12-02T09:00:00Z", md5: bool = True) -> RemoteAttachment:
    return RemoteAttachment(id=id, name=name, size=len(content), mime_type="text/plain",
                            etag_md5=hashlib.md5(content).hexdigest() if md5 else None,  # noqa: S324
                            created_at=created_at, metadata_pending=not md5)


def base(rel_path: str, content: bytes = b"v1", version: str | None = None) -> dict[str, Base]:
    from plane_sync.core.identity import path_key_for
    return {path_key_for(rel_path): Base(rel_path, sha(content),
                                         version or f"sha256:{sha(content)}")}


POLICY = TwoWayPolicy(external_source=SOURCE)


def test_attachment_without_local_file_or_base_is_downloaded_to_its_path() -> None:
    p = plan_both([], [ours("docs/a.txt")], {}, POLICY)
    assert [(d.rel_path, d.kind) for d in p.downloads] == [("docs/a.txt", "new")]
    assert p.protect == {"docs/a.txt"}


def test_hand_upload_goes_to_the_root_under_a_cleaned_name() -> None:
    p = plan_both([], [theirs("bad\x07name.pdf")], {}, POLICY)
    assert [d.rel_path for d in p.downloads] == ["bad_name.pdf"]


def test_hand_upload_under_our_display_name_is_that_path() -> None:
    p = plan_both([local("docs/a.txt")], [theirs("docs \u2044 a.txt", b"v1")],
                  base("docs/a.txt"), POLICY)
    assert not p.downloads and not p.skipped


def test_same_content_on_both_sides_records_the_base() -> None:
    p = plan_both([local("a.txt")], [ours("a.txt")], {}, POLICY)
    assert not p.downloads
    assert [b.rel_path for b in p.agreed.values()] == ["a.txt"]


def test_remote_changed_local_unchanged_updates_the_file() -> None:
    p = plan_both([local("a.txt", b"v1")], [ours("a.txt", b"v2")], base("a.txt", b"v1"), POLICY)
    [d] = p.downloads
    assert (d.rel_path, d.kind, d.replaces) == ("a.txt", "update", local("a.txt", b"v1"))
    assert "a.txt" in p.withhold and "a.txt" in p.protect


def test_new_version_uploaded_by_hand_updates_the_file() -> None:
    p = plan_both([local("a.txt", b"v1")], [ours("a.txt", b"v1"), theirs("a.txt", b"v2")],
                  base("a.txt", b"v1"), POLICY)
    assert [(d.kind, d.remote.attachment.id) for d in p.downloads] == [("update", "t1")]


def test_local_changed_remote_unchanged_leaves_it_to_the_uploads() -> None:
    p = plan_both([local("a.txt", b"v2")], [ours("a.txt", b"v1")], base("a.txt", b"v1"), POLICY)
    assert not p.downloads and not p.withhold


def test_both_changed_writes_a_conflict_copy_and_keeps_the_local_file() -> None:
    p = plan_both([local("d/r.pdf", b"mine")], [ours("d/r.pdf", b"theirs")],
                  base("d/r.pdf", b"old"), POLICY)
    [d] = p.downloads
    assert (d.rel_path, d.kind, d.of_path) == ("d/r (Plane 2026-12-01 1432).pdf", "conflict",
                                               "d/r.pdf")
    assert not p.withhold  # the local version is uploaded


def test_differing_sides_without_a_base_are_a_conflict() -> None:
    p = plan_both([local("a.txt", b"mine")], [ours("a.txt", b"other")], {}, POLICY)
    assert [d.kind for d in p.downloads] == ["conflict"]


def test_conflict_copy_already_written_is_not_written_again() -> None:
    copy = conflict_name("a.txt", ours("a.txt", b"other"))
    p = plan_both([local("a.txt", b"mine"), local(copy, b"other")], [ours("a.txt", b"other")],
                  {}, POLICY)
    assert not p.downloads


def test_conflict_copy_name_taken_by_other_bytes_gets_a_number() -> None:
    copy = conflict_name("a.txt", ours("a.txt", b"other"))
    p = plan_both([local("a.txt", b"mine"), local(copy, b"edited")], [ours("a.txt", b"other")],
                  {}, POLICY)
    assert [d.rel_path for d in p.downloads] == ["a (Plane 2026-12-01 1432 2).txt"]


def test_local_deletion_is_a_tombstone_until_the_attachment_changes() -> None:
    hand = theirs("a.txt", b"v1")
    tomb = base("a.txt", b"v1", version="id:t1")
    assert not plan_both([], [hand], tomb, POLICY).downloads
    newer = theirs("a.txt", b"v2", id="t2", created_at="2026-12-03T00:00:00Z")
    assert [d.kind for d in plan_both([], [hand, newer], tomb, POLICY).downloads] == ["new"]


def test_removed_in_plane_goes_to_the_trash_only_under_delete() -> None:
    files = [local(f"f{i}.txt") for i in range(3)]
    bases = base("f0.txt")
    keep = plan_both(files, [ours("f1.txt"), ours("f2.txt")], bases, POLICY)
    assert not keep.trash and keep.kept == [("f0.txt", REASON_REMOVED_KEEP)]
    assert keep.forget and "f0.txt" not in keep.withhold  # uploaded again
    delete = TwoWayPolicy(external_source=SOURCE, on_delete="delete")
    p = plan_both(files, [ours("f1.txt"), ours("f2.txt")], bases, delete)
    assert [t.file.rel_path for t in p.trash] == ["f0.txt"] and "f0.txt" in p.withhold


def test_removed_in_plane_but_changed_here_stays_and_is_uploaded() -> None:
    delete = TwoWayPolicy(external_source=SOURCE, on_delete="delete")
    files = [local("f0.txt", b"changed"), local("f1.txt"), local("f2.txt")]
    p = plan_both(files, [ours("f1.txt"), ours("f2.txt")], base("f0.txt"), delete)
    assert not p.trash and not p.withhold and p.forget


def test_removing_more_than_half_is_held() -> None:
    delete = TwoWayPolicy(external_source=SOURCE, on_delete="delete")
    files = [local(f"f{i}.txt") for i in range(3)]
    bases = {**base("f0.txt"), **base("f1.txt")}
    p = plan_both(files, [ours("f2.txt")], bases, delete)
    assert not p.trash and p.hold and sorted(p.held) == ["f0.txt", "f1.txt"]
    assert {"f0.txt", "f1.txt"} <= p.withhold  # not uploaded again either
    allowed = TwoWayPolicy(external_source=SOURCE, on_delete="delete", allow_mass_delete=True)
    assert len(plan_both(files, [ours("f2.txt")], bases, allowed).trash) == 2


def test_both_gone_forgets_the_base() -> None:
    assert plan_both([], [], base("a.txt"), POLICY).forget


def test_paths_the_rules_leave_out_are_not_downloaded() -> None:
    policy = TwoWayPolicy(external_source=SOURCE, takes=lambda p: not p.endswith(".tmp"))
    p = plan_both([], [theirs("x.tmp")], {}, policy)
    assert not p.downloads and p.skipped == [("x.tmp", REASON_EXCLUDED)]


def test_cut_hint_cannot_be_placed() -> None:
    long_path = "d/" + "x" * 300 + ".txt"
    p = plan_both([], [ours(long_path)], {}, POLICY)
    assert not p.downloads and p.skipped[0][1] == REASON_UNPLACEABLE


def test_unsettled_paths_are_left_alone() -> None:
    p = plan_both([], [ours("a.txt")], {}, POLICY, unsettled=["a.txt"])
    assert not p.downloads


def test_hand_upload_without_md5_of_same_size_waits() -> None:
    p = plan_both([local("a.txt", b"v1")], [theirs("a.txt", b"v2", md5=False)], {}, POLICY)
    assert not p.downloads


@pytest.mark.parametrize(("name", "expected"), [
    ("a/b.txt", "a_b.txt"), ("..", None), ("...", None), (".hidden", "hidden"),
    ("x\u202eexe.txt", "x_exe.txt"), ("\x00", "_"), ("  r.pdf ", "r.pdf"),
])
def test_local_names(name: str, expected: str | None) -> None:
    assert local_name_for(name) == expected


def test_local_name_fits_255_bytes_and_keeps_the_extension() -> None:
    name = local_name_for("\u00e9" * 300 + ".pdf")
    assert name is not None and len(name.encode()) <= 255 and name.endswith(".pdf")


@pytest.mark.parametrize(("created", "stamp"), [
    ("2026-12-01T14:32:10.123456Z", "2026-12-01 1432"),
    ("2026-12-01T14:32:10+00:00", "2026-12-01 1432"),
    ("2026-12-01T00:10:00+01:00", "2026-11-30 2310"),
    ("2024-02-28T23:30:00-01:00", "2024-02-29 0030"),
    ("2026-12-31T23:59:59-00:30", "2027-01-01 0029"),
    ("yesterday", None),
])
def test_conflict_stamps_are_utc(created: str, stamp: str | None) -> None:
    from plane_sync.core.twoway import utc_stamp
    assert utc_stamp(created) == stamp
