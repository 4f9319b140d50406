"""What every renderer says about a brief's language, and which briefs it shows.

An offline brief in a language no source is written in is the sources' brief,
untranslated (`original_language` set). Renderers label it in the reader's
language ("untranslated — in French", "non traduit — en anglais") and, when the
reader gets several languages, show the same text once, not once per language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from briefing.text.language import language_name

T = TypeVar("T")
# (language, original_language or None, headline, points) of a brief, whatever its type.
BriefKey = Callable[[T], tuple[str, str | None, str, Sequence[str]]]

_UNTRANSLATED = {"fr": "non traduit — en {name}", "en": "untranslated — in {name}"}


def untranslated_label(original: str, reader: str) -> str:
    """"untranslated — in French" in the reader's language (English when it has no wording)."""
    wording = _UNTRANSLATED.get(reader, _UNTRANSLATED["en"])
    return wording.format(name=language_name(original, reader if reader in _UNTRANSLATED
                                             else "en"))


def own_name(lang: str) -> str:
    """A language's name in that language, capitalised: "Français", "English", "Deutsch"."""
    name = language_name(lang, lang)
    return name[:1].upper() + name[1:]


def shown_once(briefs: Sequence[T], key: BriefKey[T]) -> list[tuple[T, str | None]]:
    """The briefs to show, in order, each with its untranslated label language (None when it
    is written in its own language); an untranslated copy of a shown brief is left out."""
    def content(brief: T) -> tuple[str, str, tuple[str, ...]]:
        lang, original, headline, points = key(brief)
        return original or lang, headline, tuple(points)

    claimed = {content(b) for b in briefs if key(b)[1] is None}
    shown: list[tuple[T, str | None]] = []
    for brief in briefs:
        original = key(brief)[1]
        if original is not None:
            if content(brief) in claimed:
                continue
            claimed.add(content(brief))
        shown.append((brief, original))
    return shown


def briefs_once(briefs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str | None]]:
    """`shown_once` for briefs as dicts (digests, bot messages)."""
    return shown_once(briefs, lambda b: (b.get("language", "en"), b.get("original_language"),
                                         b["headline"], b.get("points", [])))
