"""Attachment names that tell a work item's files apart.

:func:`~plane_sync.core.identity.attachment_name_for` is readable but not one-to-one: Plane
deletes ``..``, so ``a..b.txt`` and ``a.b.txt`` both become ``a.b.txt``; a file literally named
``a ⁄ b.txt`` looks like ``a/b.txt``; control and bidi characters become U+FFFD; long names
are cut. Identity never depends on a name (the external id decides), but people pick
attachments by name, so among our attachments of one work item no two files share one.

The rule is a pure function of the folder's paths and the attachment list, so every pass and
every machine syncing the same share gives a file the same name, whatever order files were
found in:

1. A file gets its *plain* name (``attachment_name_for``) unless another path claims it too:
   another file of the folder (settled or not) with the same plain name, or an attachment of
   ours for another path that carries that name.
2. Of the claimants, the path that the plain name renders *exactly* (every segment as it is,
   joined by ``" ⁄ "``: nothing removed, replaced or cut) keeps it, unless an attachment of
   another path already carries it (uploaded before this rule existed: nothing is renamed, so
   the newcomer steps aside). At most one path renders exactly to a given name.
3. Every other claimant gets a tag made from its own path: ``a.b (3f9a2c).txt``, the first
   six hex digits of its path key (SHA-256 of the NFC path). A tag derived from the path
   rather than a counter stays the same whichever files come and go and whichever machine
   uploads; should the tagged name itself be claimed (a file literally named so), the tag is
   lengthened.

Names are chosen when a file version is uploaded; attachments already in Plane keep theirs.
"""

from __future__ import annotations

from collections.abc import Iterable

from plane_sync.core.identity import (
    FOLDER_SEPARATOR,
    MAX_NAME_CHARS,
    attachment_name_for,
    normalize_rel_path,
    path_key_for,
)

TAG_DIGITS = (6, 12, 32)
_MAX_TAGGED_EXTENSION = 16
_FRACTION_SLASH = "\u2044"


def _plain_if_exact(rel_path: str) -> str | None:
    """The plain name when ``rel_path`` renders exactly, else None. Cheap for the usual
    ASCII path (no ``..``, backslash, controls, edge spaces or leading dot, short enough)."""
    if (rel_path.isascii() and rel_path.isprintable() and ".." not in rel_path
            and "\\" not in rel_path and rel_path[:1] not in (".", " ", "")
            and not rel_path.endswith(" ")
            and len(rel_path) + 2 * rel_path.count("/") <= MAX_NAME_CHARS):
        return rel_path.replace("/", FOLDER_SEPARATOR)
    segments = [s for s in normalize_rel_path(rel_path).split("/") if s]
    if any(_FRACTION_SLASH in s for s in segments):
        return None  # "a ⁄ b" as one name would read as a folder
    joined = FOLDER_SEPARATOR.join(segments)
    return joined if attachment_name_for(rel_path) == joined else None


def renders_exactly(rel_path: str) -> bool:
    """Whether the plain name shows ``rel_path`` as it is (see rule 2)."""
    return _plain_if_exact(rel_path) is not None


def plain_name(rel_path: str) -> str:
    return _plain_if_exact(rel_path) or attachment_name_for(rel_path)


def tagged_name(rel_path: str, digits: int = TAG_DIGITS[0]) -> str:
    """``a..b.txt`` -> ``a.b (3f9a2c).txt``: the plain name with a tag from the path key
    before a short extension, within the name length limit."""
    tag = f" ({path_key_for(rel_path)[:digits]})"
    name = attachment_name_for(rel_path, MAX_NAME_CHARS - len(tag))
    last = name.rsplit(FOLDER_SEPARATOR, 1)[-1]
    dot = last.rfind(".")
    extension = last[dot:] if dot > 0 else ""
    if " " in extension or len(extension) > _MAX_TAGGED_EXTENSION:
        extension = ""
    return name[: len(name) - len(extension)] + tag + extension


def unique_names(uploading: Iterable[str], present: Iterable[str],
                 ours: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The name of each path in ``uploading`` (see the module docstring).

    ``present``: every path of the folder, the ones being uploaded included; ``ours``:
    (path key, name) of every attachment of ours on the work item.
    """
    by_name: dict[str, list[str]] = {}  # plain name -> paths of files that have it
    for rel_path in present:
        by_name.setdefault(plain_name(rel_path), []).append(rel_path)
    carried: dict[str, set[str]] = {}  # name -> path keys whose attachment carries it
    for key, name in ours:
        carried.setdefault(name, set()).add(key)
    hashed: dict[str, set[str]] = {}

    def files_named(name: str) -> set[str]:
        """Path keys of the files whose plain name is ``name`` (hashed only when asked:
        most names are asked for by no upload)."""
        if name not in hashed:
            hashed[name] = {path_key_for(p) for p in by_name.get(name, ())}
        return hashed[name]

    names: dict[str, str] = {}
    for rel_path in uploading:
        key = path_key_for(rel_path)
        exact = _plain_if_exact(rel_path)
        plain = exact or attachment_name_for(rel_path)
        carriers = carried.get(plain, set()) - {key}
        rivals = (files_named(plain) - {key}) | carriers
        if not rivals or (exact is not None and not carriers):
            names[rel_path] = plain
            continue
        for digits in TAG_DIGITS:  # lengthened only if a file is literally named so
            names[rel_path] = tagged_name(rel_path, digits)
            taken = files_named(names[rel_path]) | carried.get(names[rel_path], set())
            if not taken - {key}:
                break
    return names
