"""Issue 3, "Identity and the plan": a hypothesis property that *ignored files never appear*.

The planner knows nothing of ignore rules (the scan applies them), so the property is checked
where it holds: real trees on disk, mixing files the default excludes cover (hidden files,
swap/backup files, office locks, partial downloads, OS metadata, anything under a hidden
directory) with ordinary ones, go through ``scan_folder`` with the default rules and then
``plan``; no ignored path may be listed, skipped with a reason, or uploaded.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from plane_sync.config.types import DEFAULT_EXCLUDES
from plane_sync.core.reconcile import Policy, Skip, Upload, plan
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import scan_folder

IGNORED_NAMES = [".env", ".hidden.txt", "notes.txt.swp", "a.swx", "report.docx~", ".#lock.txt",
                 "#autosave#", "~$report.docx", ".~lock.budget.ods#", "x.tmp", "movie.part",
                 "setup.crdownload", ".DS_Store", "Thumbs.db", "desktop.ini"]
KEPT_NAMES = ["report.docx", "budget.ods", "a.txt", "Thumbs.db.txt", "tmp.txt", "lock#",
              "~report.docx", "x.tmp.pdf", "notes.swp.txt", "part.1"]
DIRS = ["", "docs", "docs/deep", ".git", ".cache/sub", "~$odd"]


def ignored_by_default(rel_path: str) -> bool:
    """An independent statement of the rule: the name or any parent matches a default."""
    parts = rel_path.split("/")
    return any(fnmatch.fnmatchcase(part, pattern)
               for part in parts for pattern in DEFAULT_EXCLUDES)


tree = st.sets(st.tuples(st.sampled_from(DIRS), st.sampled_from(IGNORED_NAMES + KEPT_NAMES)),
               min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(tree)
def test_ignored_files_never_reach_the_plan(entries: set[tuple[str, str]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="audit-ignore-"))
    try:
        paths = sorted({posixpath.join(d, n) for d, n in entries})
        for rel in paths:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f"content of {rel}\n".encode())
        scan = scan_folder(root, IgnoreRules(include=(), exclude=DEFAULT_EXCLUDES))
        listed = {f.rel_path for f in scan.files}
        mentioned = listed | {p.rel_path for p in scan.problems}
        actions = plan(scan.files, [], Policy(size_limit=1 << 20))
        touched = {a.file.rel_path for a in actions if isinstance(a, Upload)}
        touched |= {a.rel_path for a in actions if isinstance(a, Skip)}
        expected = {p for p in paths if not ignored_by_default(p)}
        assert not {p for p in mentioned | touched if ignored_by_default(p)}
        assert listed == expected  # and nothing that should be kept was lost
        assert {a.file.rel_path for a in actions if isinstance(a, Upload)} == expected
    finally:
        shutil.rmtree(root)
