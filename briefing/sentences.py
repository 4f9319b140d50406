"""Sentence boundaries as character offsets, for French and English news text.

A small regex splitter rather than a library: every offset must point into the
exact source text (quotes are checked against it), and chunking must run at
megabytes per second, which rule-heavy segmenters do not reach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    """m mm mme mmes mlle mr mrs ms dr pr st ste me jr sr vs etc cf ex av apr
    env no nos art fig p pp vol éd ed gen gén col lt cpt sgt prof inc ltd co corp
    jan janv feb fév févr mar apr avr jun jul juil aug sep sept oct nov dec déc
    u.s u.k e.g i.e""".split()
)
# End punctuation, then optional closing quotes/brackets, then whitespace.
# French typography puts a (no-break) space before the closing guillemet: ". »".
_BOUNDARY = re.compile(r"""[.!?…]+(?:[ \u00a0\u202f]»|[»”"’')\]])*(?=\s)|\n\s*\n|\n""")
_NEXT_START = re.compile(r"""\s*[«“"‘'(\[—–-]?\s*[A-ZÀ-ÖØ-Þ0-9]""")
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


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
    # Single letters are initials ("J. Smith"), not ends of sentences.
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if "\n" in match.group():
        return True
    if match.group().startswith(".") and _is_abbreviation(text, match.start()):
        return False
    return _NEXT_START.match(text, match.end()) is not None


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def split_sentences(text: str) -> list[Span]:
    """Split text into sentence spans; every non-space character is in exactly one."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if not _ends_sentence(text, match):
            continue
        span = _trimmed(text, start, match.end())
        if span is not None:
            spans.append(span)
        start = match.end()
    tail = _trimmed(text, start, len(text))
    if tail is not None:
        spans.append(tail)
    return spans
