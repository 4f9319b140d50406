"""What every renderer says about a brief's language, and which briefs it shows.

An offline brief in a language no source is written in is the sources' brief,
untranslated (`original_language` set). Renderers label it in the reader's
language ("untranslated — in French", "non traduit — en anglais") and, when the
reader gets several languages, show the same text once, not once per language.
"""

from __future__ import annotations

from collections.abc import Sequence

from briefing.briefs.models import Brief
from briefing.text.language import language_name

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


def _content(brief: Brief) -> tuple[str, str, tuple[str, ...]]:
    """What a reader reads of a brief: the language it is really written in, and its text."""
    return brief.original_language or brief.language, brief.headline, tuple(brief.points)


def shown_once(briefs: Sequence[Brief]) -> list[tuple[Brief, str | None]]:
    """The briefs to show, in order, each with its untranslated label language (None when it
    is written in its own language); an untranslated copy of a shown brief is left out."""
    claimed = {_content(b) for b in briefs if b.original_language is None}
    shown: list[tuple[Brief, str | None]] = []
    for brief in briefs:
        original = brief.original_language
        if original is not None:
            if _content(brief) in claimed:
                continue
            claimed.add(_content(brief))
        shown.append((brief, original))
    return shown
