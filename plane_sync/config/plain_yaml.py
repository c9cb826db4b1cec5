"""YAML text -> plain data (dict, list, str, int, float, bool, None) and nothing else, fast.

PyYAML's SafeLoader still builds dates, sets and bytes, honours every explicit tag, and its
constructors raise ``ValueError`` on ``!!int abc`` or ``2020-13-45`` (a traceback; with
``api_key: !!int plane_api_...`` one that prints the key). Its composer recurses once per
nesting level and expands nothing lazily, so deep nesting and alias bombs cost what they like.
This loader walks the parser's events itself:

- An explicit tag (``!!int``, ``!!timestamp``, ``!!python/object``, ``!local``) is a problem
  with its place; the tagged value is never constructed. The non-specific ``!`` is fine.
- Plain scalars resolve to YAML 1.1's null, bool, int and float; anything that looks like a
  date stays text. A number longer than ``MAX_NUMBER_CHARS`` is refused, not converted.
- Anchors, aliases and ``<<`` merges work, but a value counts each time it is used, so an
  alias bomb stops at ``MAX_VALUES``; nesting stops at ``MAX_DEPTH``; an alias inside its own
  anchor (a recursive structure) is refused.
- Duplicate keys are a problem (PyYAML lets the last one win).

With the file size cap in :mod:`plane_sync.config.load`, these caps bound the time any
document takes (well under a second for anything that fits). libyaml's parser is used when
PyYAML has it (measured ~8x faster per event); on a syntax error the pure-Python parser reads
the text again for its clearer message.

Messages are built from positions and token names only: PyYAML quotes what it read (an alias
name, the offending line), which may be the API key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from yaml.resolver import Resolver

from plane_sync.config.values import show

MAX_VALUES = 10_000  # scalars and collections, aliases counted at their full size
MAX_DEPTH = 32  # a configuration needs 4
MAX_NUMBER_CHARS = 100
MESSAGE_REPARSE_LIMIT = 64 * 1024  # beyond this, libyaml's own message is good enough

_YAML_TAG = "tag:yaml.org,2002:"
_SHOWN_TAG = re.compile(r"[a-z]+(?:/[a-z]+)?")
_SHOWN_LOCAL_TAG = re.compile(r"![A-Za-z0-9_-]{1,12}")
_QUOTED = re.compile(r"'([^']*)'")
_CONSTRUCTOR = SafeConstructor()
_RESOLVER = Resolver()
_FAST_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)


class _Merge:
    """The ``<<`` key of a mapping, before its merge is carried out."""


_MERGE = _Merge()
_SCALAR_KEY = (str, int, float, bool, type(None))


class _Stop(Exception):
    """A cap was reached; the problem is already recorded."""


@dataclass
class _Frame:
    mapping: bool
    line: int
    column: int
    anchor: str | None
    refused: bool  # tagged: walked for further problems, but its value is None
    count_at_start: int
    items: list[Any] = field(default_factory=list)
    data: dict[Any, Any] = field(default_factory=dict)
    key: Any = None
    has_key: bool = False
    key_texts: set[str] = field(default_factory=set)
    merges: list[tuple[Any, int, int]] = field(default_factory=list)


def _where(line: int, column: int) -> str:
    return f"line {line + 1}, column {column + 1}"


def _tag_name(tag: str) -> str:
    """A tag as the file spells it, if that is safe to show (it could be a pasted secret)."""
    if tag.startswith(_YAML_TAG):
        suffix = tag[len(_YAML_TAG):]
        match = _SHOWN_TAG.match(suffix)
        if match:
            return "!!" + match.group(0) + ("..." if match.end() < len(suffix) else "")
        return "a !! tag"
    return tag if _SHOWN_LOCAL_TAG.fullmatch(tag) else "a custom tag"


class _Builder:
    """Turns one document's events into plain data, recording problems as it goes."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.duplicates: list[str] = []
        self.count = 0
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, its size)
        self.open_anchors: set[str] = set()
        self.root: Any = None
        self.documents = 0

    def problem(self, line: int, column: int, message: str) -> None:
        self.problems.append(f"{_where(line, column)}: {message}")

    def feed(self, event: Event) -> None:
        mark = event.start_mark
        line, column = (mark.line, mark.column) if mark is not None else (0, 0)
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.problem(line, column, "a second YAML document (after ---); a "
                             "configuration is one document")
                raise _Stop
        elif isinstance(event, ScalarEvent):
            self._count(1, line, column)
            value, refused = self._scalar(event, line, column)
            self._anchor(event.anchor, value, 1)
            self._add(value, line, column, event.value if not refused else None)
        elif isinstance(event, AliasEvent):
            self._alias(event.anchor or "", line, column)
        elif isinstance(event, CollectionStartEvent):
            self._count(1, line, column)
            if len(self.stack) >= MAX_DEPTH:
                self.problem(line, column, f"nested deeper than {MAX_DEPTH} levels")
                raise _Stop
            refused = self._refuse_tag(event.tag, line, column)
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            self.stack.append(_Frame(isinstance(event, MappingStartEvent), line, column,
                                     event.anchor, refused, self.count - 1))
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            frame = self.stack.pop()
            value = self._finish(frame)
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
                self._anchor(frame.anchor, value, self.count - frame.count_at_start)
            self._add(value, frame.line, frame.column, None)

    # -- values ---------------------------------------------------------------------------

    def _count(self, n: int, line: int, column: int) -> None:
        self.count += n
        if self.count > MAX_VALUES:
            self.problem(line, column, f"the document has more than {MAX_VALUES} values "
                         "(an alias counts as many as it stands for)")
            raise _Stop

    def _refuse_tag(self, tag: str | None, line: int, column: int) -> bool:
        if tag is None or tag == "!":
            return False
        self.problem(line, column, f"the tag {_tag_name(tag)} is not accepted: write the "
                     "value without it (quote it to make it text)")
        return True

    def _scalar(self, event: ScalarEvent, line: int, column: int) -> tuple[Any, bool]:
        if self._refuse_tag(event.tag, line, column):
            return None, True
        text = event.value
        if event.tag == "!" or not event.implicit[0]:
            return text, False  # quoted, block or "! value": text
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, event.implicit)  # type: ignore[no-untyped-call]
        kind = tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else "str"
        if kind == "null":
            return None, False
        if kind == "bool":
            return _CONSTRUCTOR.bool_values[text.lower()], False
        if kind == "merge":
            return _MERGE, False
        if kind in ("int", "float"):
            if len(text) > MAX_NUMBER_CHARS:
                self.problem(line, column, f"a number of more than {MAX_NUMBER_CHARS} "
                             "characters")
                return None, True
            node = yaml.ScalarNode(tag, text)
            try:
                if kind == "int":
                    return _CONSTRUCTOR.construct_yaml_int(node), False
                return _CONSTRUCTOR.construct_yaml_float(node), False
            except (ValueError, OverflowError):
                self.problem(line, column, "not a number YAML can read")
                return None, True
        return text, False  # str, timestamp (a date stays text), value

    def _alias(self, name: str, line: int, column: int) -> None:
        if name in self.open_anchors:
            self.problem(line, column, "an alias inside the anchor it refers to (a "
                         "recursive structure) is not accepted")
            value, size = None, 1
        elif name not in self.anchors:
            self.problem(line, column, "an alias (*name) refers to no anchor (&name) "
                         "defined before it")
            value, size = None, 1
        else:
            value, size = self.anchors[name]
        self._count(size, line, column)
        self._add(value, line, column, None)

    def _anchor(self, name: str | None, value: Any, size: int) -> None:
        if name is not None:
            self.anchors[name] = (value, size)

    def _add(self, value: Any, line: int, column: int, key_text: str | None) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if not frame.mapping:
            frame.items.append(value)
        elif not frame.has_key:
            if value is not _MERGE and not isinstance(value, _SCALAR_KEY):
                self.problem(line, column, "a key must be a plain value, not a list or "
                             "a mapping")
                value = _Merge()  # a placeholder no other key equals
            elif key_text is not None and value is not _MERGE:
                if key_text in frame.key_texts:
                    self.duplicates.append(
                        f"{_where(line, column)}: duplicate key {show(key_text)} "
                        "(each key may appear once in a mapping)")
                frame.key_texts.add(key_text)
            frame.key, frame.has_key = value, True
        else:
            if frame.key is _MERGE:
                frame.merges.append((value, line, column))
            elif not isinstance(frame.key, _Merge):
                frame.data[frame.key] = value
            frame.has_key = False

    def _finish(self, frame: _Frame) -> Any:
        if frame.refused:
            return None
        if not frame.mapping:
            return frame.items
        for value, line, column in frame.merges:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                self.problem(line, column, "<< merges a mapping or a list of mappings only")
                continue
            for source in sources:
                for key, item in source.items():
                    frame.data.setdefault(key, item)  # keys written here win
        return frame.data


def _events(text: str, loader: type[Any]) -> Iterator[Event]:
    yield from yaml.parse(text, Loader=loader)


def _build(text: str, loader: type[Any]) -> _Builder:
    builder = _Builder()
    try:
        for event in _events(text, loader):
            builder.feed(event)
    except _Stop:
        pass
    return builder


def load_plain_yaml(text: str) -> tuple[Any, list[str], list[str]]:
    """(data, problems, duplicate-key problems). Data is None when there are problems."""
    try:
        yaml.reader.Reader(text)  # unprintable characters, with their position
        builder = _build(text, _FAST_LOADER or yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, int) else 0
        return None, [f"line {line}, column {column}: "
                      f"character #x{character:04x} is not allowed in YAML"], []
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(text, exc)], []
    except yaml.YAMLError as exc:
        return None, [f"YAML error: {type(exc).__name__}"], []
    if builder.problems:
        return None, builder.problems, builder.duplicates
    return builder.root, [], builder.duplicates


def _syntax_problem(text: str, exc: yaml.MarkedYAMLError) -> str:
    """The pure-Python parser's message (clearer than libyaml's) when it is cheap to get."""
    if _FAST_LOADER is not None and len(text) <= MESSAGE_REPARSE_LIMIT:
        try:
            _build(text, yaml.SafeLoader)
        except yaml.MarkedYAMLError as python_exc:
            exc = python_exc
        except yaml.YAMLError:
            pass
    return f"{_position(exc)}: YAML syntax error: {_describe(exc, text)}".lstrip(": ")


def _harmless(quoted: str) -> bool:
    return len(quoted) <= 4 or quoted.startswith(("<", "!", "tag:"))


def _position(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    return "" if mark is None else _where(mark.line, mark.column)


def _describe(exc: yaml.MarkedYAMLError, text: str) -> str:
    description = exc.problem or exc.context or "cannot parse"
    if exc.context and exc.problem:
        start = exc.context_mark
        where = ""
        if start is not None and exc.problem_mark is not None \
                and start.line != exc.problem_mark.line:
            where = f" that starts at {_where(start.line, start.column)}"
        description = f"{exc.problem} ({exc.context}{where})"
    # PyYAML quotes what it read (an alias name, say), which could be the API key: keep
    # only quotes that are token names, tags or single characters.
    description = _QUOTED.sub(lambda m: m.group(0) if _harmless(m.group(1)) else "'...'",
                              description)
    mark = exc.problem_mark
    at_tab = mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t"
    if at_tab or "\\t" in description or "\t" in description:
        description += "; YAML indents with spaces, not tabs"
    return description
