from __future__ import annotations

import pytest

from plane_sync.local.ignore import IgnoreRules

OFFICE_EXCLUDES = ["*.tmp", "~$*", ".~lock.*#", ".*", "build/**", "cache/", "Thumbs.db"]


@pytest.mark.parametrize(
    ("rel_path", "is_dir", "ignored"),
    [
        ("report.pdf", False, False),
        ("a/b/report.pdf", False, False),
        ("x.tmp", False, True),
        ("deep/down/x.tmp", False, True),
        ("x.tmp.pdf", False, False),
        ("~$report.docx", False, True),
        ("sub/~$report.docx", False, True),
        ("sub/.~lock.report.odt#", False, True),
        (".hidden", False, True),
        ("a/.git", True, True),
        ("build", True, True),  # "build/**" stops the walk at "build" itself
        ("build/out.bin", False, True),
        ("build/x/y/out.bin", False, True),
        ("src/build/out.bin", False, False),  # patterns with "/" are anchored at the root
        ("cache", True, True),
        ("cache", False, False),  # "cache/" matches directories only
        ("a/cache", True, True),
        ("Thumbs.db", False, True),
        ("thumbs.db", False, False),  # case-sensitive, as on Linux
    ],
)
def test_excludes(rel_path: str, is_dir: bool, ignored: bool) -> None:
    rules = IgnoreRules(include=[], exclude=OFFICE_EXCLUDES)
    assert rules.ignores(rel_path, is_dir) is ignored


def test_include_selects_files_but_directories_are_still_descended() -> None:
    rules = IgnoreRules(include=["*.pdf", "docs/**/*.md"], exclude=["secret*"])
    assert not rules.ignores("a.pdf", False)
    assert not rules.ignores("deep/er/a.pdf", False)
    assert rules.ignores("a.txt", False)
    assert not rules.ignores("deep", True)
    assert not rules.ignores("docs/readme.md", False)  # "**/" may match no directory
    assert not rules.ignores("docs/x/y/readme.md", False)
    assert rules.ignores("other/readme.md", False)
    assert rules.ignores("secret.pdf", False)  # exclusion wins over inclusion


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.txt", "a.txt", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("[!ab].txt", "c.txt", True),
        ("docs/*.txt", "docs/a.txt", True),
        ("docs/*.txt", "docs/x/a.txt", False),  # "*" does not cross "/"
        ("docs/**", "docs/x/a.txt", True),
        ("/top.txt", "top.txt", True),
        ("/top.txt", "sub/top.txt", False),
        ("**/logs", "logs", True),
        ("**/logs", "a/b/logs", True),
        ("a+b(1).txt", "a+b(1).txt", True),  # regex metacharacters are literal
        ("[unclosed", "[unclosed", True),
    ],
)
def test_glob_dialect(pattern: str, path: str, matches: bool) -> None:
    assert IgnoreRules(exclude=[pattern]).ignores(path, False) is matches


def test_empty_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        IgnoreRules(exclude=["  "])
    with pytest.raises(ValueError, match="matches nothing"):
        IgnoreRules(exclude=["/"])


def test_no_rules_ignore_nothing() -> None:
    rules = IgnoreRules()
    assert not rules.ignores(".hidden", False)
    assert not rules.ignores("a/b", True)
