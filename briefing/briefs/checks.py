"""The limits of a brief (headline and points cut to their word budget), and numbers as
they are written (digits, thousands and decimal marks ignored), which `briefing eval`
compares with the cited sentences to show what the check accepted in another notation.

Points are checked against the sentences they cite in `briefing.briefs.grounding`, with
numbers read as values (`briefing.text.numbers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from briefing.briefs.models import Point
from briefing.config import BriefSettings
from briefing.text.words import fold, word_count

# A headline longer than this is cut; the offline engine picks a whole sentence within it
# (news leads run 25 to 40 words), models write one line.
HEADLINE_WORDS = 40
_NUMBER = re.compile(r"\d(?:[\d\u00a0\u202f ]*\d)?(?:[.,]\d+)*")


def _number_forms(text: str) -> set[str]:
    forms: set[str] = set()
    for match in _NUMBER.finditer(text):
        raw = re.sub(r"[\s\u00a0\u202f]", "", match.group())
        forms.add(re.sub(r"[.,]", "", raw))
        forms.add(raw.replace(",", "."))
    return forms


@dataclass(frozen=True)
class SourceFacts:
    """The numbers of a text as written, and its folded form."""

    numbers: frozenset[str]
    folded: str

    @classmethod
    def of(cls, text: str) -> SourceFacts:
        """Facts of a text: its number forms and its folded form."""
        return cls(frozenset(_number_forms(text)), fold(text))


def unsupported_numbers(point: str, facts: SourceFacts) -> list[str]:
    """Numbers in `point` that appear in no source (thousands and decimal marks ignored)."""
    known = facts.numbers
    missing = []
    for match in _NUMBER.finditer(point):
        forms = _number_forms(match.group())
        if not forms & known:
            missing.append(match.group())
    return missing


def fit_words(headline: str, points: Sequence[Point], cfg: BriefSettings) -> tuple[Point, ...]:
    """Keep the first points that fit the word limit together with the headline."""
    budget = cfg.max_words - word_count(headline)
    kept: list[Point] = []
    for point in points[: cfg.max_points]:
        if word_count(point.text) > budget:
            break
        kept.append(point)
        budget -= word_count(point.text)
    return tuple(kept)
