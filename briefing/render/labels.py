"""What every renderer says about a brief's language, which briefs it shows, and how it
writes a date.

An offline brief in a language no source is written in is the sources' brief,
untranslated (`original_language` set). Renderers label it in the reader's
language ("untranslated — in French", "non traduit — en anglais"; in Telegram
messages the headline is marked "(in French)" and the reason said once per message)
and, when the reader gets several languages, show the same text once, not once per
language. A reader of both languages sees each brief under its flag (`FLAGS`).

A story's points are numbered from 1 across the briefs it shows (`shown_points`): with
both languages, the English brief's points follow the French one's (①② then ③④), so a
number names one point of a story wherever it is shown, and `/why 3` finds it again. The
source sentences a point rests on are written `[S1·3, S2·1]` in plain text and on the
terminal (`support_marker`: source id · sentence number, from 1).

Dates are written the reader's way with babel: "2 décembre" ("1er décembre"), "2 December".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel.dates import format_date

from briefing.briefs.models import Brief, Point, Support
from briefing.text.catalogue import FALLBACK, LANGUAGES, text
from briefing.text.language import language_name

FLAGS = {"fr": "🇫🇷", "en": "🇬🇧"}  # the two brief languages, as a reader of both sees them


def untranslated_label(original: str, reader: str) -> str:
    """"untranslated — in French" in the reader's language (English when it has no wording)."""
    shown = reader if reader in LANGUAGES else FALLBACK
    return text("label_untranslated", shown, name=language_name(original, shown))


def language_mark(original: str, reader: str) -> str:
    """"in French", "en anglais": what marks a text left in its source's language."""
    shown = reader if reader in LANGUAGES else FALLBACK
    return text("label_in_language", shown, name=language_name(original, shown))


def reader_date(day: date, lang: str) -> str:
    """A day the reader's way: "2 décembre" (the first is "1er"), "2 December"."""
    locale = lang if lang in LANGUAGES else FALLBACK
    if locale == "fr" and day.day == 1:  # French writes the first of the month as an ordinal
        return "1er " + format_date(day, "MMMM", locale="fr")
    return format_date(day, "d MMMM", locale=locale)


def own_name(lang: str) -> str:
    """A language's name in that language, capitalised: "Français", "English", "Deutsch"."""
    name = language_name(lang, lang)
    return name[:1].upper() + name[1:]


def _content(brief: Brief) -> tuple[str, str, tuple[str, ...]]:
    """What a reader reads of a brief: the language it is really written in, and its text."""
    return (brief.original_language or brief.language, brief.headline,
            tuple(p.text for p in brief.points))


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


@dataclass(frozen=True)
class ShownPoint:
    """A point as a reader sees it in a story: its number there (from 1), and its brief."""

    number: int
    brief: Brief
    point: Point


def shown_points(briefs: Sequence[Brief]) -> list[ShownPoint]:
    """The points of the briefs a story shows (`shown_once`), numbered from 1 across them:
    the numbers every renderer prints and `/why N` reads back."""
    shown = [brief for brief, _original in shown_once(briefs)]
    points = [(brief, point) for brief in shown for point in brief.points]
    return [ShownPoint(number, brief, point) for number, (brief, point)
            in enumerate(points, start=1)]


def cited(support: Sequence[Support]) -> list[Support]:
    """A point's support in reading order (by source, then sentence), each sentence once."""
    unique = {(s.source, s.sentence): s for s in support}
    return sorted(unique.values(), key=lambda s: (_source_order(s.source), s.sentence))


def _source_order(source: str) -> tuple[int, str]:
    # S2 before S10: ids compare by their number, anything else after them by name.
    digits = source[1:]
    return (int(digits), "") if source[:1] == "S" and digits.isdigit() else (1 << 30, source)


def support_marker(point: Point) -> str:
    """"[S1·3, S2·1]": the source sentences a point rests on (source id · sentence number);
    "" for a point stored before points carried their support."""
    if not point.support:
        return ""
    return "[" + ", ".join(f"{s.source}·{s.sentence}" for s in cited(point.support)) + "]"
