"""The planner's decision table, one test per branch."""

from __future__ import annotations

import hashlib

import pytest

from plane_sync.core.identity import attachment_name_for, external_id_for
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.reconcile import (
    REASON_DUPLICATE,
    REASON_GONE,
    REASON_KEPT,
    REASON_REPLACED,
    SKIP_EMPTY,
    SKIP_SAME_PATH,
    SKIP_TOO_LARGE,
    Action,
    Delete,
    Hold,
    Keep,
    Policy,
    Skip,
    Upload,
    plan,
    summarize,
)

SOURCE = "plane-sync"


def local(rel_path: str, content: bytes = b"v1") -> LocalFile:
    return LocalFile(rel_path=rel_path, size=len(content), mtime_ns=0,
                     sha256=hashlib.sha256(content).hexdigest(),
                     md5=hashlib.md5(content).hexdigest())  # noqa: S324 - ETag, not security


def ours(rel_path: str, content: bytes = b"v1", id: str | None = None,
         created_at: str = "2026-01-01T00:00:00Z", source: str = SOURCE) -> RemoteAttachment:
    return RemoteAttachment(
        id=id or f"ours-{rel_path}-{content.decode()}", name=attachment_name_for(rel_path),
        size=len(content), mime_type="application/octet-stream", external_source=source,
        external_id=external_id_for(rel_path, hashlib.sha256(content).hexdigest()),
        etag_md5=hashlib.md5(content).hexdigest(),  # noqa: S324
        content_length=len(content), created_at=created_at)


def theirs(name: str, content: bytes = b"v1", id: str = "human-1", source: str | None = None,
           external_id: str | None = None, etag: bool = True) -> RemoteAttachment:
    return RemoteAttachment(
        id=id, name=name, size=len(content), mime_type="application/pdf",
        external_source=source, external_id=external_id,
        etag_md5=hashlib.md5(content).hexdigest() if etag else None)  # noqa: S324


def uploads(actions: list[Action]) -> list[Upload]:
    return [a for a in actions if isinstance(a, Upload)]


def deletes(actions: list[Action]) -> list[Delete]:
    return [a for a in actions if isinstance(a, Delete)]


# --- files that are new, unchanged, changed ---------------------------------------------------

def test_new_file_is_uploaded_with_name_mime_and_id() -> None:
    file = local("docs/specs/a.pdf")
    assert plan([file], [], Policy()) == [Upload(
        file=file, name="docs ⁄ specs ⁄ a.pdf", mime_type="application/pdf",
        external_id=external_id_for("docs/specs/a.pdf", file.sha256), replaces=())]


def test_unchanged_file_already_uploaded_by_us_does_nothing() -> None:
    assert plan([local("a.txt")], [ours("a.txt")], Policy()) == []


def test_unchanged_file_uploaded_under_nfd_spelling_does_nothing() -> None:
    # macOS wrote the id from the NFD name; Linux scans the NFC name of the same file.
    assert plan([local("Caf\u00e9.txt")], [ours("Cafe\u0301.txt")], Policy()) == []


def test_changed_file_under_replace_uploads_and_replaces_the_old_version() -> None:
    old = ours("a.txt", b"v1")
    [action] = plan([local("a.txt", b"v2")], [old], Policy(on_change="replace"))
    assert isinstance(action, Upload)
    assert action.replaces == (old,)
    assert action.external_id == external_id_for("a.txt", local("a.txt", b"v2").sha256)


def test_changed_file_under_keep_uploads_and_the_old_version_stays() -> None:
    [action] = plan([local("a.txt", b"v2")], [ours("a.txt", b"v1")], Policy(on_change="keep"))
    assert isinstance(action, Upload)
    assert action.replaces == ()


def test_under_keep_older_versions_stay_once_the_current_one_is_up() -> None:
    remote = [ours("a.txt", b"v1"), ours("a.txt", b"v2")]
    assert plan([local("a.txt", b"v2")], remote, Policy(on_change="keep")) == []


def test_under_replace_an_interrupted_replace_is_finished() -> None:
    # The new version went up, the process died before deleting the old one.
    old, new = ours("a.txt", b"v1"), ours("a.txt", b"v2")
    assert plan([local("a.txt", b"v2")], [old, new], Policy(on_change="replace")) == [
        Delete(old, "a.txt", REASON_REPLACED)]


def test_changed_file_replaces_every_older_version() -> None:
    old1, old2 = ours("a.txt", b"v1"), ours("a.txt", b"v2")
    [action] = plan([local("a.txt", b"v3")], [old1, old2], Policy())
    assert isinstance(action, Upload)
    assert set(action.replaces) == {old1, old2}


def test_racing_duplicate_of_ours_is_removed_keeping_the_oldest() -> None:
    first = ours("a.txt", id="first", created_at="2026-01-01T00:00:00Z")
    second = ours("a.txt", id="second", created_at="2026-01-02T00:00:00Z")
    assert plan([local("a.txt")], [second, first], Policy(on_change="keep")) == [
        Delete(second, "a.txt", REASON_DUPLICATE)]


# --- attachments of people and other tools -----------------------------------------------------

def test_matching_hand_upload_of_a_top_level_file_spares_the_upload() -> None:
    assert plan([local("report.pdf")], [theirs("report.pdf")], Policy()) == []


def test_hand_upload_matches_under_plane_sanitized_name() -> None:
    # A person uploaded ".env"; Plane stored it as "env".
    assert plan([local(".env")], [theirs("env")], Policy()) == []


def test_hand_upload_matches_under_our_folder_name() -> None:
    assert plan([local("docs/a.pdf")], [theirs("docs ⁄ a.pdf")], Policy()) == []


def test_hand_upload_with_bare_basename_does_not_match_a_file_in_a_subfolder() -> None:
    assert len(uploads(plan([local("docs/a.pdf")], [theirs("a.pdf")], Policy()))) == 1


@pytest.mark.parametrize("other", [
    theirs("report.pdf", b"other content"),  # same name, other bytes
    theirs("report.pdf", etag=False),  # storage_metadata not filled in yet: cannot tell
    theirs("Report.pdf"),  # other name
])
def test_hand_upload_that_does_not_match_fully_does_not_spare_the_upload(
        other: RemoteAttachment) -> None:
    actions = plan([local("report.pdf")], [other], Policy())
    assert [u.file.rel_path for u in uploads(actions)] == ["report.pdf"]


def test_attachments_of_others_are_never_deleted_or_replaced() -> None:
    remote = [
        theirs("gone.pdf", id="human"),
        theirs("x", id="other-tool", source="other-tool",
               external_id=external_id_for("gone.pdf", local("gone.pdf").sha256)),
        ours("a.txt", id="other-machine-setting", source="another-source"),
        theirs("y", id="our-source-foreign-id", source=SOURCE, external_id="sync:gone.pdf"),
    ]
    actions = plan([local("a.txt", b"v2")], remote, Policy(on_delete="delete"))
    assert deletes(actions) == []
    assert all(u.replaces == () for u in uploads(actions))


# --- files Plane would refuse ---------------------------------------------------------------

def test_empty_file_is_skipped() -> None:
    assert plan([local("empty.txt", b"")], [], Policy()) == [
        Skip("empty.txt", "empty file: Plane refuses size 0", SKIP_EMPTY)]


def test_too_large_file_is_skipped_and_its_old_version_stays() -> None:
    actions = plan([local("big.bin", b"x" * 11)], [ours("big.bin", b"small")],
                   Policy(size_limit=10, on_delete="delete"))
    assert len(actions) == 1
    assert isinstance(actions[0], Skip)
    assert actions[0].kind == SKIP_TOO_LARGE


def test_file_at_exactly_the_limit_is_uploaded() -> None:
    assert len(uploads(plan([local("x.bin", b"x" * 10)], [], Policy(size_limit=10)))) == 1


def test_nfc_and_nfd_twins_on_disk_upload_once() -> None:
    actions = plan([local("Cafe\u0301.txt", b"a"), local("Caf\u00e9.txt", b"b")], [], Policy())
    assert len(uploads(actions)) == 1
    assert [a.kind for a in actions if isinstance(a, Skip)] == [SKIP_SAME_PATH]


# --- deleted files and safety ---------------------------------------------------------------

def test_deleted_file_is_kept_by_default_and_the_plan_says_so() -> None:
    remote = [ours(f"f{i}.txt") for i in range(4)]
    assert plan([local(f"f{i}.txt") for i in range(3)], remote, Policy()) == [
        Keep(remote[3], "f3.txt", REASON_KEPT)]


def test_a_kept_file_names_its_newest_version_once() -> None:
    old, new = ours("a.txt", b"v1"), ours("a.txt", b"v2", created_at="2026-02-01T00:00:00Z")
    assert plan([], [old, new], Policy(on_change="keep")) == [Keep(new, "a.txt", REASON_KEPT)]


def test_nothing_is_said_kept_while_the_folder_is_not_seen_whole() -> None:
    remote = [ours("a.txt")]
    assert plan([], remote, Policy(folder_available=False)) == []


def test_a_too_large_file_names_both_sizes_in_mib() -> None:
    [skip] = plan([local("big.bin", b"x" * (20 * 1024 * 1024))], [],
                  Policy(size_limit=5 * 1024 * 1024))
    assert isinstance(skip, Skip)
    assert skip.reason == "20.0 MiB is over the server's limit of 5.0 MiB"


def test_deleted_file_is_deleted_under_on_delete_delete() -> None:
    remote = [ours(f"f{i}.txt") for i in range(4)]
    actions = plan([local(f"f{i}.txt") for i in range(3)], remote, Policy(on_delete="delete"))
    assert actions == [Delete(remote[3], "f3.txt", REASON_GONE)]


def test_file_still_being_written_is_not_gone() -> None:
    # A file that exists but was not taken this pass (unsettled, unreadable) keeps its
    # attachments even under on_delete=delete, and counts as present for the half rule.
    remote = [ours(f"f{i}.txt") for i in range(4)]
    actions = plan([local("f0.txt")], remote, Policy(on_delete="delete"),
                   unsettled=["f1.txt", "f2.txt"])
    assert actions == [Delete(remote[3], "f3.txt", REASON_GONE)]


def test_every_version_of_a_deleted_file_goes() -> None:
    remote = [ours("a.txt", b"v1"), ours("a.txt", b"v2"), ours("b.txt"), ours("c.txt")]
    actions = plan([local("b.txt"), local("c.txt")], remote,
                   Policy(on_delete="delete", on_change="keep"))
    assert {d.attachment.id for d in deletes(actions)} == {remote[0].id, remote[1].id}


def test_missing_folder_deletes_nothing_and_says_so() -> None:
    remote = [ours("a.txt"), ours("b.txt"), ours("c.txt")]
    actions = plan([local("a.txt"), local("b.txt")], remote,
                   Policy(on_delete="delete", folder_available=False))
    assert deletes(actions) == []
    assert actions[0] == Hold("the folder is missing or unreadable, so nothing is deleted", 1)


def test_missing_folder_still_uploads_but_does_not_replace() -> None:
    actions = plan([local("a.txt", b"v2")], [ours("a.txt", b"v1")],
                   Policy(folder_available=False))
    assert isinstance(actions[0], Hold)
    [upload] = uploads(actions)
    assert upload.replaces == ()


def test_emptied_folder_looks_unmounted_and_holds_deletion() -> None:
    remote = [ours(f"f{i}.txt") for i in range(5)]
    actions = plan([], remote, Policy(on_delete="delete"))
    assert len(actions) == 1
    assert isinstance(actions[0], Hold)
    assert actions[0].suppressed == 5
    assert "5 of 5" in actions[0].reason


def test_losing_more_than_half_holds_but_exactly_half_deletes() -> None:
    remote = [ours(f"f{i}.txt") for i in range(4)]
    policy = Policy(on_delete="delete")
    assert len(deletes(plan([local("f0.txt"), local("f1.txt")], remote, policy))) == 2
    held = plan([local("f0.txt")], remote, policy)
    assert deletes(held) == []
    assert isinstance(held[0], Hold)


def test_mass_deletion_goes_through_when_explicitly_allowed() -> None:
    remote = [ours(f"f{i}.txt") for i in range(4)]
    actions = plan([], remote, Policy(on_delete="delete", allow_mass_delete=True))
    assert len(deletes(actions)) == 4


def test_renaming_every_file_is_not_a_mass_loss() -> None:
    # 2 old names gone, 3 new names present: 2 of 5 known files go, and the plan is stable
    # (after the uploads the same deletions are still allowed).
    remote = [ours("old1.txt"), ours("old2.txt")]
    actions = plan([local("new1.txt"), local("new2.txt"), local("new3.txt")], remote,
                   Policy(on_delete="delete"))
    assert len(uploads(actions)) == 3
    assert len(deletes(actions)) == 2


def test_skipped_files_are_not_counted_as_gone() -> None:
    remote = [ours("a.txt", b"v1")]
    assert plan([local("a.txt", b"")], remote, Policy(on_delete="delete")) == [
        Skip("a.txt", "empty file: Plane refuses size 0", SKIP_EMPTY)]


# --- name collisions ------------------------------------------------------------------------

def test_colliding_names_never_hide_or_replace_each_other() -> None:
    # "a ⁄ b.txt" at the top and "a/b.txt" in a folder get the very same attachment name.
    top, nested = local("a ⁄ b.txt", b"top"), local("a/b.txt", b"nested")
    assert attachment_name_for(top.rel_path) == attachment_name_for(nested.rel_path)
    policy = Policy(on_delete="delete", on_change="replace")
    actions = plan([top, nested], [], policy)
    assert sorted(u.file.rel_path for u in uploads(actions)) == ["a ⁄ b.txt", "a/b.txt"]
    assert all(u.replaces == () for u in uploads(actions))
    # Once both are up, each is seen as itself: nothing to do, nothing deleted.
    remote = [ours("a ⁄ b.txt", b"top"), ours("a/b.txt", b"nested")]
    assert plan([top, nested], remote, policy) == []
    # Changing one replaces only its own old version.
    [upload] = plan([top, local("a/b.txt", b"nested v2")], remote, policy)
    assert isinstance(upload, Upload)
    assert upload.replaces == (remote[1],)


def test_same_basename_in_two_folders_are_two_attachments() -> None:
    actions = plan([local("x/a.pdf"), local("y/a.pdf")], [], Policy())
    assert len({u.external_id for u in uploads(actions)}) == 2


# --- order and shape ------------------------------------------------------------------------

def test_actions_come_sorted_by_path_with_hold_first() -> None:
    remote = [ours("b.txt", b"v1"), ours("z.txt"), ours("y.txt"), ours("x.txt")]
    actions = plan([local("c.txt", b""), local("b.txt", b"v2"), local("a.txt")], remote,
                   Policy(on_delete="delete", folder_available=False))
    assert isinstance(actions[0], Hold)
    assert [type(a).__name__ for a in actions[1:]] == ["Upload", "Upload", "Skip"]
    assert [getattr(a, "rel_path", None) or a.file.rel_path  # type: ignore[union-attr]
            for a in actions[1:]] == ["a.txt", "b.txt", "c.txt"]


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    files = [local(f"d{i % 3}/f{i}.txt", bytes([i])) for i in range(9)]
    remote = [ours(f"d{i % 3}/f{i}.txt", b"old") for i in range(0, 12, 2)]
    policy = Policy(on_delete="delete")
    assert plan(files, remote, policy) == plan(files[::-1], remote[::-1], policy)


def test_summarize_counts() -> None:
    actions = plan([local("a.txt", b"v2"), local("e.txt", b"")], [ours("a.txt", b"v1")],
                   Policy())
    assert summarize(actions) == {"uploads": 1, "replaced": 1, "deletes": 0, "skips": 1,
                                  "kept": 0, "holds": 0, "waits": 0}
