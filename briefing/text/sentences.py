"""Sentence boundaries as character offsets, for French and English news text.

A small regex splitter rather than a library: every offset must point into the
exact source text (quotes are checked against it), and chunking must run at
megabytes per second, which rule-heavy segmenters do not reach.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    """m mm mme mmes mlle mr mrs ms dr pr st ste me jr sr vs etc cf ex av apr
    env no nos art fig p pp vol éd ed gen gén col lt cpt sgt prof inc ltd co corp
    jan janv feb fév févr mar apr avr jun jul juil aug sep sept oct nov dec déc
    u.s u.k e.g i.e mgr cie bd dir gal dept gov sen rep rev hon capt maj cmdr""".split()
)
_UPPER = "A-ZÀ-ÖØ-Þ"
# End punctuation, then optional closing quotes/brackets, then whitespace, or, in text glued
# without a space ("Mizan Online.Moussavi Majd a été"), a capital (after an opening mark).
# French typography puts a (no-break) space before the closing guillemet: ". »".
_BOUNDARY = re.compile(rf"""[.!?…]+(?:[ \u00a0\u202f]»|[»”"’')\]])*(?=\s|[«“"„]?[{_UPPER}])"""
                       r"|\n\s*\n|\n")
_NEXT_START = re.compile(rf"""\s*[«“"‘'(\[—–-]?\s*[{_UPPER}0-9]""")
# A glued sentence starts with a word: a capital then a small letter or an apostrophe, so
# acronyms ("U.S.A.", "ASP.NET") and initials ("J.R.R.") are not split.
_GLUED_START = re.compile(rf"""[«“"„]?[{_UPPER}](?:[a-zß-ÿ]|['’][\w])""")
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # "u.n", "e.u.a"
# A token holding a web address or an e-mail is never split, whatever its capitals.
_ADDRESS = re.compile(r"://|\b[Ww]ww\.|@|\.(?:com|org|net|fr|uk|de|io|gouv)\b")


@dataclass(frozen=True)
class Span:
    """A sentence: `text[start:end]`, trimmed of surrounding whitespace."""

    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    match = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if match is None:
        return False
    word = match.group(1).lower()
    # Single letters are initials ("J. Smith"), not ends of sentences; nor are "U.N." acronyms.
    return (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())
            or _ACRONYM.fullmatch(word) is not None)


def _token_around(text: str, pos: int) -> str:
    """The whitespace-delimited token holding `pos` (at most 80 characters each side)."""
    left = text.rfind(" ", max(0, pos - 80), pos) + 1 or max(0, pos - 80)
    right = pos
    while right < len(text) and right - pos < 80 and not text[right].isspace():
        right += 1
    return text[left:right]


def _glued_end(text: str, start: int, match: re.Match[str]) -> int | None:
    """Where a sentence glued to the next one ends, or None when this is no boundary."""
    end = match.end()
    if _GLUED_START.match(text, end) is None or _ADDRESS.search(_token_around(text, end)):
        return None
    if match.group().startswith("."):
        # ".NET", " .Net": a full stop after a space starts a name; "M.Dupont" is a title.
        if match.start() == 0 or text[match.start() - 1].isspace():
            return None
        if _is_abbreviation(text, match.start()):
            return None
    if text[end - 1] == '"' and text.count('"', start, end - 1) % 2 == 0:
        end -= 1  # an even count before it: this straight mark opens the next sentence
    return end


def _boundary_end(text: str, start: int, match: re.Match[str]) -> int | None:
    """The end of the sentence that `match` closes, or None when it closes none."""
    if "\n" in match.group():
        return match.end()
    if match.end() < len(text) and not text[match.end()].isspace():
        return _glued_end(text, start, match)
    if match.group().startswith(".") and _is_abbreviation(text, match.start()):
        return None
    return match.end() if _NEXT_START.match(text, match.end()) is not None else None


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def iter_sentences(text: str) -> Iterator[Span]:
    """Sentence spans one at a time, in order: a caller that needs only the first few (or
    the first match) does not pay for a span per line of a huge text."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = _boundary_end(text, start, match)
        if end is None or end <= start:
            continue
        span = _trimmed(text, start, end)
        if span is not None:
            yield span
        start = end
    tail = _trimmed(text, start, len(text))
    if tail is not None:
        yield tail


def split_sentences(text: str) -> list[Span]:
    """Split text into sentence spans; every non-space character is in exactly one."""
    return list(iter_sentences(text))


@lru_cache(maxsize=32)
def numbered(text: str) -> tuple[Span, ...]:
    """The sentences of a source as the model sees them numbered: sentence n (from 1) is
    `numbered(text)[n - 1]`. Prompts, point support and renderers share this numbering."""
    return tuple(iter_sentences(text))


def sentence_number(text: str, offset: int) -> int:
    """The number (from 1) of the sentence holding `offset` in `text`."""
    starts = [s.start for s in numbered(text)]
    return max(1, bisect_right(starts, offset))
