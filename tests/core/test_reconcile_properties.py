"""Properties of the planner, checked against an in-memory Plane.

``FakePlane`` behaves like the real list/create/delete as far as the planner cares: a create
with an external id/source pair that exists answers 409 and creates nothing; a delete of a
missing attachment is a no-op (404); names are stored as Plane's sanitize_filename leaves them.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from plane_sync.core.identity import attachment_name_for, external_id_for, parse_external_id
from plane_sync.core.identity import plane_sanitize as sanitize
from plane_sync.core.models import LocalFile, RemoteAttachment
from plane_sync.core.reconcile import REASON_GONE, Action, Delete, Hold, Policy, Skip, Upload, plan

SIZE_LIMIT = 10
SOURCE = "plane-sync"

PATHS = [
    "a.txt", "b.pdf", ".env", "env", "docs/a.txt", "docs/specs/a.pdf", "docs ⁄ a.txt",
    "x/y/z/deep.md", "Caf\u00e9.txt", "Cafe\u0301.txt", "v1..2.txt", "back\\slash.txt",
    " spaced .txt", "other/a.txt",
]
CONTENTS = [b"", b"a", b"b", b"ccc", b"0123456789", b"x" * (SIZE_LIMIT + 1)]


def local_file(rel_path: str, content: bytes) -> LocalFile:
    return LocalFile(rel_path=rel_path, size=len(content), mtime_ns=0,
                     sha256=hashlib.sha256(content).hexdigest(),
                     md5=hashlib.md5(content).hexdigest())  # noqa: S324 - ETag, not security


def human_names() -> list[str]:
    names = {attachment_name_for(p) for p in PATHS} | {sanitize(p) or "x" for p in PATHS}
    return sorted(names | {"a.pdf", "unrelated.doc"})


@dataclass
class FakePlane:
    attachments: list[RemoteAttachment] = field(default_factory=list)
    counter: int = 0
    conflicts: int = 0

    def _next_id(self) -> str:
        self.counter += 1
        return f"att-{self.counter:05d}"

    def add(self, name: str, content: bytes, source: str | None = None,
            external_id: str | None = None, etag: bool = True) -> RemoteAttachment:
        attachment_id = self._next_id()
        attachment = RemoteAttachment(
            id=attachment_id, name=sanitize(name) or "x", size=len(content),
            mime_type="application/octet-stream", external_source=source,
            external_id=external_id,
            etag_md5=hashlib.md5(content).hexdigest() if etag else None,  # noqa: S324
            content_length=len(content) if etag else None, created_at=attachment_id)
        self.attachments.append(attachment)
        return attachment

    def create(self, upload: Upload, source: str) -> bool:
        """The three-step upload; False on 409."""
        if any(a.external_source == source and a.external_id == upload.external_id
               for a in self.attachments):
            self.conflicts += 1
            return False
        stored = sanitize(upload.name)
        assert stored == upload.name, "Plane would rename this attachment"
        attachment_id = self._next_id()
        file = upload.file
        self.attachments.append(RemoteAttachment(
            id=attachment_id, name=stored, size=file.size, mime_type=upload.mime_type,
            external_source=source, external_id=upload.external_id, etag_md5=file.md5,
            content_length=file.size, created_at=attachment_id))
        return True

    def delete(self, attachment_id: str) -> None:
        self.attachments = [a for a in self.attachments if a.id != attachment_id]

    def apply(self, actions: Sequence[Action], source: str, steps: int | None = None) -> None:
        """Carry out ``actions``; with ``steps``, stop (crash) after that many API writes."""
        done = 0

        def budget_left() -> bool:
            return steps is None or done < steps

        for action in actions:
            if isinstance(action, Upload):
                if not budget_left():
                    return
                created = self.create(action, source)
                done += 1
                # Old versions go only after our new one is up; after a 409 they wait for
                # the next pass, which finishes the replace once the other copy is visible.
                for old in action.replaces if created else ():
                    if not budget_left():
                        return
                    self.delete(old.id)
                    done += 1
            elif isinstance(action, Delete):
                if not budget_left():
                    return
                self.delete(action.attachment.id)
                done += 1


def is_ours(attachment: RemoteAttachment, source: str) -> bool:
    return (attachment.external_source == source
            and parse_external_id(attachment.external_id) is not None)


def nfc(path: str) -> str:
    return unicodedata.normalize("NFC", path)


def check_plan_safety(local: Sequence[LocalFile], remote: Sequence[RemoteAttachment],
                      policy: Policy, actions: Sequence[Action]) -> None:
    """Properties every plan has, whatever the inputs."""
    our_ids = {a.id for a in remote if is_ours(a, policy.external_source)}
    our_external_ids = {a.external_id for a in remote if is_ours(a, policy.external_source)}
    up = [a for a in actions if isinstance(a, Upload)]
    dels = [a for a in actions if isinstance(a, Delete)]
    holds = [a for a in actions if isinstance(a, Hold)]

    # Skipped files are never uploaded; Plane would refuse them.
    for upload in up:
        assert 0 < upload.file.size <= policy.size_limit
        assert sanitize(upload.name) == upload.name
    skipped = {a.rel_path for a in actions if isinstance(a, Skip)}
    assert not skipped & {u.file.rel_path for u in up}
    # No two uploads of one id, and none that Plane would answer 409.
    ids = [u.external_id for u in up]
    assert len(ids) == len(set(ids))
    assert not set(ids) & our_external_ids
    # Only ours is ever deleted or replaced.
    touched = [d.attachment for d in dels] + [r for u in up for r in u.replaces]
    assert all(a.id in our_ids for a in touched)
    assert len({a.id for a in touched}) == len(touched)
    # No deletion at all while the folder is unavailable.
    if not policy.folder_available:
        assert touched == []
    # Gone files are deleted only when asked, never while held, and never a loss of more
    # than half of the known files in one plan.
    gone_dels = [d for d in dels if d.reason == REASON_GONE]
    if policy.on_delete != "delete":
        assert gone_dels == []
    local_keys = {nfc(f.rel_path) for f in local}
    for d in gone_dels:
        ident = parse_external_id(d.attachment.external_id)
        assert ident is not None
        assert all(external_id_for(p, "0" * 64).split(":")[1] != ident.path_key
                   for p in local_keys)
    if not policy.allow_mass_delete:
        gone_paths = {parse_external_id(d.attachment.external_id).path_key  # type: ignore[union-attr]
                      for d in gone_dels}
        our_paths = {parse_external_id(a.external_id).path_key  # type: ignore[union-attr]
                     for a in remote if a.id in our_ids}
        local_paths = {external_id_for(p, "0" * 64).split(":")[1] for p in local_keys}
        assert 2 * len(gone_paths) <= len(our_paths | local_paths)
    assert len(holds) <= 1
    if holds:
        assert actions[0] is holds[0]


def check_converged(local: Sequence[LocalFile], plane: FakePlane, policy: Policy) -> None:
    """After a full pass, the next plan has nothing to write, and every file is there."""
    again = plan(local, plane.attachments, policy)
    assert [a for a in again if isinstance(a, Upload | Delete)] == [], again
    ours_ids = {a.external_id for a in plane.attachments if is_ours(a, policy.external_source)}
    for file in local:
        if 0 < file.size <= policy.size_limit:
            present = external_id_for(file.rel_path, file.sha256) in ours_ids or any(
                a.etag_md5 == file.md5 and a.size == file.size for a in plane.attachments)
            twin = any(nfc(o.rel_path) == nfc(file.rel_path) and o != file for o in local)
            assert present or twin, file.rel_path
    if not policy.folder_available:
        return
    # Racing duplicates are gone, and under replace only the current version of a file is
    # left once it is up (an interrupted replace gets finished).
    mine = [parse_external_id(a.external_id) for a in plane.attachments
            if is_ours(a, policy.external_source)]
    assert len(mine) == len(set(mine))
    if policy.on_change == "replace":
        for file in local:
            twin = any(nfc(o.rel_path) == nfc(file.rel_path) and o != file for o in local)
            if 0 < file.size <= policy.size_limit and not twin:
                ident = parse_external_id(external_id_for(file.rel_path, file.sha256))
                if ident in mine:
                    same_path = [m for m in mine if m and ident and m.path_key == ident.path_key]
                    assert same_path == [ident], file.rel_path


# --- one plan over generated worlds ----------------------------------------------------------

policies = st.builds(
    Policy, external_source=st.just(SOURCE), on_change=st.sampled_from(["replace", "keep"]),
    on_delete=st.sampled_from(["keep", "delete"]), size_limit=st.just(SIZE_LIMIT),
    folder_available=st.booleans(), allow_mass_delete=st.booleans())
local_sets = st.dictionaries(st.sampled_from(PATHS), st.sampled_from(CONTENTS), max_size=10)
our_versions = st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(CONTENTS[1:5])),
                        max_size=12)
human_uploads = st.lists(
    st.tuples(st.sampled_from(human_names()), st.sampled_from(CONTENTS[1:5]), st.booleans()),
    max_size=4)
foreign_uploads = st.lists(
    st.tuples(st.sampled_from(PATHS), st.sampled_from(CONTENTS[1:5]),
              st.sampled_from(["other-tool", SOURCE])),
    max_size=3)


def build_world(files: dict[str, bytes], versions: list[tuple[str, bytes]],
                humans: list[tuple[str, bytes, bool]],
                foreign: list[tuple[str, bytes, str]]) -> tuple[list[LocalFile], FakePlane]:
    plane = FakePlane()
    for path, content in versions:  # may repeat: racing duplicates and kept versions
        external_id = external_id_for(path, hashlib.sha256(content).hexdigest())
        plane.add(attachment_name_for(path), content, SOURCE, external_id)
    for name, content, etag in humans:
        plane.add(name, content, etag=etag)
    for path, content, source in foreign:
        sha = hashlib.sha256(content).hexdigest()
        # Another tool's id may even equal ours; our source with an id we cannot read is
        # treated as someone else's.
        foreign_id = external_id_for(path, sha) if source != SOURCE else f"legacy:{path}"
        plane.add(path, content, source, foreign_id)
    return [local_file(p, c) for p, c in files.items()], plane


@settings(max_examples=300)
@given(local_sets, our_versions, human_uploads, foreign_uploads, policies, st.randoms())
def test_any_plan_is_safe_and_converges(
        files: dict[str, bytes], versions: list[tuple[str, bytes]],
        humans: list[tuple[str, bytes, bool]], foreign: list[tuple[str, bytes, str]],
        policy: Policy, rnd: random.Random) -> None:
    local, plane = build_world(files, versions, humans, foreign)
    theirs_before = {a.id for a in plane.attachments if not is_ours(a, SOURCE)}
    actions = plan(local, plane.attachments, policy)
    check_plan_safety(local, plane.attachments, policy, actions)

    # The same inputs in another order give the same plan.
    shuffled_local, shuffled_remote = list(local), list(plane.attachments)
    rnd.shuffle(shuffled_local)
    rnd.shuffle(shuffled_remote)
    assert plan(shuffled_local, shuffled_remote, policy) == actions

    plane.apply(actions, SOURCE)
    assert plane.conflicts == 0
    assert theirs_before <= {a.id for a in plane.attachments}
    check_converged(local, plane, policy)


# --- a long life: edits, crashes, policy changes, a second machine ---------------------------

class SyncLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.plane = FakePlane()
        self.policy = Policy(external_source=SOURCE, size_limit=SIZE_LIMIT)
        self.synced = True

    def local(self) -> list[LocalFile]:
        return [local_file(p, c) for p, c in sorted(self.files.items())]

    def theirs(self) -> set[str]:
        return {a.id for a in self.plane.attachments if not is_ours(a, SOURCE)}

    @rule(path=st.sampled_from(PATHS), content=st.sampled_from(CONTENTS))
    def write_file(self, path: str, content: bytes) -> None:
        self.files[path] = content
        self.synced = False

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def remove_file(self, data: st.DataObject) -> None:
        del self.files[data.draw(st.sampled_from(sorted(self.files)))]
        self.synced = False

    @rule(name=st.sampled_from(human_names()), content=st.sampled_from(CONTENTS[1:5]))
    def person_uploads(self, name: str, content: bytes) -> None:
        self.plane.add(name, content)
        self.synced = False

    @rule(on_change=st.sampled_from(["replace", "keep"]),
          on_delete=st.sampled_from(["keep", "delete"]), available=st.booleans())
    def change_policy(self, on_change: str, on_delete: str, available: bool) -> None:
        self.policy = Policy(external_source=SOURCE, size_limit=SIZE_LIMIT,
                             on_change=on_change,  # type: ignore[arg-type]
                             on_delete=on_delete,  # type: ignore[arg-type]
                             folder_available=available)
        self.synced = False

    @rule(steps=st.integers(min_value=0, max_value=6))
    def sync_and_crash(self, steps: int) -> None:
        before = self.theirs()
        actions = plan(self.local(), self.plane.attachments, self.policy)
        check_plan_safety(self.local(), self.plane.attachments, self.policy, actions)
        self.plane.apply(actions, SOURCE, steps=steps)
        assert before <= {a.id for a in self.plane.attachments}
        self.synced = False

    @rule()
    def sync(self) -> None:
        before = self.theirs()
        local = self.local()
        actions = plan(local, self.plane.attachments, self.policy)
        check_plan_safety(local, self.plane.attachments, self.policy, actions)
        self.plane.apply(actions, SOURCE)
        assert before <= {a.id for a in self.plane.attachments}
        check_converged(local, self.plane, self.policy)
        self.synced = True

    @rule()
    def two_machines_sync_at_once(self) -> None:
        # Both plan from the same listing, then both carry their plans out; the second
        # machine's creates of the same ids get 409. One more pass by either settles it.
        local = self.local()
        snapshot = list(self.plane.attachments)
        first = plan(local, snapshot, self.policy)
        second = plan(local, snapshot, self.policy)
        assert first == second
        self.plane.apply(first, SOURCE)
        self.plane.apply(second, SOURCE)
        self.plane.conflicts = 0
        self.sync()

    @invariant()
    def no_two_of_ours_share_an_id(self) -> None:
        ids = [a.external_id for a in self.plane.attachments if is_ours(a, SOURCE)]
        assert len(ids) == len(set(ids))

    @invariant()
    def a_synced_world_is_quiet(self) -> None:
        if self.synced:
            again = plan(self.local(), self.plane.attachments, self.policy)
            assert [a for a in again if isinstance(a, Upload | Delete)] == []


SyncLife.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestSyncLife = SyncLife.TestCase
