"""Text shown to people escapes what could take over a terminal or hide what a name says."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plane_sync.core.display import BIDI_CONTROLS, visible


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain name.pdf", "plain name.pdf"),
    ("Übersicht 日本 😀.pdf", "Übersicht 日本 😀.pdf"),
    ("\x1b[2J\x1b]0;owned\x07.txt", "\\x1b[2J\\x1b]0;owned\\x07.txt"),
    ("line\nFAILED  forged: x", "line\\nFAILED  forged: x"),
    ("cr\rtab\t.txt", "cr\\rtab\\t.txt"),
    ("rtl\u202eexe.txt", "rtl\\u202eexe.txt"),
    ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
    ("csi\x9b31m", "csi\\x9b31m"),  # C1 CSI: some terminals act on it like ESC [
    ("del\x7f", "del\\x7f"),
    ("sep\u2028para\u2029", "sep\\u2028para\\u2029"),
    (os.fsdecode(b"caf\xe9.txt"), "caf\\xe9.txt"),  # an undecodable byte
    ("back\\slash", "back\\slash"),
])
def test_visible_table(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    shown.encode("utf-8")  # printable on any UTF-8 terminal


def test_newlines_of_our_own_multi_line_text_stay() -> None:
    assert visible("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_non_strings_are_shown_through_str() -> None:
    assert visible(42) == "42"


@given(st.text())
def test_nothing_dangerous_survives(text: str) -> None:
    shown = visible(text)
    assert "\x1b" not in shown and "\n" not in shown and "\x9b" not in shown
    assert not set(shown) & BIDI_CONTROLS
    shown.encode("utf-8")
