"""Text from outside (file names, server answers, config values) made safe to show to a person.

A file name may hold anything but ``/`` and NUL: an ESC sequence that clears the screen or
sets the window title, a newline that forges a report line, a right-to-left override
(U+202E) that makes ``rtl<U+202E>txt.exe`` read as ``rtlexe.txt``. Every human output path
(reports, ``status``, ``check``, console logs, CLI messages) passes such text through
:func:`visible`, which writes these characters as escapes a person can read (``\\x1b``,
``\\n``, ``\\u202e``). JSON output is not escaped here: ``json.dumps`` already writes control
characters as ``\\uXXXX`` and keeps the value exact.

What is escaped: C0 and C1 control characters and DEL (category Cc), line and paragraph
separators (Zl, Zp: some terminals break lines there), the Unicode bidirectional controls,
and lone surrogates, which is how Python carries a file name's undecodable bytes
(``os.fsdecode``): they are shown as the byte they stand for (``\\xe9``) and would otherwise
make ``print`` raise ``UnicodeEncodeError``. Everything else, accents, CJK and emoji
included, is shown as it is. A backslash is not doubled: names with a literal ``\\x1b`` in
them are rare, and doubling every backslash would garble ordinary Windows-style names.
"""

from __future__ import annotations

import re
import unicodedata

# Explicit directional embeddings, overrides and isolates, and the implicit marks (ALM, LRM,
# RLM): every character the Unicode bidi algorithm treats as a formatting control.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE_ESCAPES = range(0xDC80, 0xDD00)  # os.fsdecode's stand-ins for bytes 0x80-0xff
# scheme://userinfo@ -- the userinfo ends at the last "@" before the path.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def needs_escape(ch: str) -> bool:
    """Whether ``ch`` must not reach a terminal as it is."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in _ESCAPED_CATEGORIES


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code in _SURROGATE_ESCAPES:
        return f"\\x{code - 0xDC00:02x}"  # the undecodable byte itself
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` (anything; non-strings through ``str``) with every character that could take
    over a terminal or hide what a name says written as a visible escape.

    ``keep_newlines``: multi-line text made by us (a traceback, a list of problems) keeps its
    line breaks; everything else is one line.
    """
    text = text if isinstance(text, str) else str(text)
    if text.isprintable() and not BIDI_CONTROLS.intersection(text):
        return text  # the common case, in C
    out: list[str] = []
    for ch in text:
        if (keep_newlines and ch == "\n") or not needs_escape(ch):
            out.append(ch)
        else:
            out.append(_escape(ch))
    return "".join(out)


def url_userinfo(url: str) -> str | None:
    """The ``user:password`` of ``scheme://user:password@host/...``, or None."""
    match = _USERINFO.match(url.strip())
    return match.group(2) if match else None


def redact_url(url: str) -> str:
    """``url`` with its ``user:password@`` written as ``***@``: a password in the Plane URL
    must not reach a message, a log line or the terminal."""
    return _USERINFO.sub(r"\1***@", url.strip(), count=1)
