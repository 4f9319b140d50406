"""Checks on the points of a brief: numbers and names must come from the sources.

A point stating a number that appears in no source is dropped. A point written
in a source's language that names a person or organisation no source mentions
is dropped too (in the other language, names may be legitimately translated:
"Pentagone" / "Pentagon", so they are not checked there). Then the brief is cut
to its limits: points, quotes and words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from briefing.briefs.models import CitationCounts
from briefing.config import BriefSettings
from briefing.sources.models import Story
from briefing.text.words import fold, word_count

# A headline longer than this is cut; the offline engine picks a whole sentence within it
# (news leads run 25 to 40 words), models write one line.
HEADLINE_WORDS = 40
_NUMBER = re.compile(r"\d(?:[\d\u00a0\u202f ]*\d)?(?:[.,]\d+)*")
_NAME = re.compile(r"\b(?:[dlDL]['’])?([A-ZÀ-ÖØ-Þ][\w\-]*(?:\s+[A-ZÀ-ÖØ-Þ][\w\-]*)*)")
# Capitalised words that start sentences without being names.
_COMMON_CAPS = frozenset(
    """le la les un une des ce cette ces il elle ils elles on en au aux du de dans pour par
    selon après avant mais et ou si lors face malgré depuis alors the a an in on at for by
    after before but and or if as this that these those it he she they while with from""".split()
)


def _number_forms(text: str) -> set[str]:
    forms: set[str] = set()
    for match in _NUMBER.finditer(text):
        raw = re.sub(r"[\s\u00a0\u202f]", "", match.group())
        forms.add(re.sub(r"[.,]", "", raw))
        forms.add(raw.replace(",", "."))
    return forms


@dataclass(frozen=True)
class SourceFacts:
    """What the point checks look up in a story's text, computed once per story."""

    numbers: frozenset[str]
    folded: str

    @classmethod
    def of(cls, text: str) -> SourceFacts:
        """Facts of a text: its number forms and its folded form."""
        return cls(frozenset(_number_forms(text)), fold(text))


@lru_cache(maxsize=16)
def _story_facts(story: Story) -> SourceFacts:
    return SourceFacts.of("\n".join(s.text + "\n" + (s.title or "") for s in story.sources))


def unsupported_numbers(point: str, facts: SourceFacts) -> list[str]:
    """Numbers in `point` that appear in no source (thousands and decimal marks ignored)."""
    known = facts.numbers
    missing = []
    for match in _NUMBER.finditer(point):
        forms = _number_forms(match.group())
        if not forms & known:
            missing.append(match.group())
    return missing


def _names(point: str) -> list[str]:
    found = []
    for match in _NAME.finditer(point):
        name = match.group(1)
        first = name.split()[0]
        at_start = point[: match.start(1)].strip(" \"'«“([-–—") == ""
        if at_start and " " not in name and not first.isupper():
            continue  # a lone capitalised first word is usually not a name
        if fold(first) in _COMMON_CAPS:
            name = " ".join(name.split()[1:])
        if name:
            found.append(name)
    return found


def unknown_names(point: str, facts: SourceFacts) -> list[str]:
    """Names (capitalised words) in `point` that no source mentions."""
    haystack = facts.folded
    return [n for n in _names(point) if any(fold(w) not in haystack for w in n.split())]


@dataclass(frozen=True)
class PointCheck:
    """Points kept, and how many were dropped for each reason."""

    points: tuple[str, ...]
    dropped_numbers: int
    dropped_names: int


def check_points(points: tuple[str, ...], lang: str, story: Story) -> PointCheck:
    """Drop points with numbers or (in a source's language) names the sources lack."""
    text = _story_facts(story)
    same_language = any(s.language == lang for s in story.sources)
    kept: list[str] = []
    numbers = names = 0
    for point in points:
        if unsupported_numbers(point, text):
            numbers += 1
        elif same_language and unknown_names(point, text):
            names += 1
        else:
            kept.append(point)
    return PointCheck(tuple(kept), numbers, names)


def fit_words(headline: str, points: tuple[str, ...], cfg: BriefSettings) -> tuple[str, ...]:
    """Keep the first points that fit the word limit together with the headline."""
    budget = cfg.max_words - word_count(headline)
    kept: list[str] = []
    for point in points[: cfg.max_points]:
        if word_count(point) > budget:
            break
        kept.append(point)
        budget -= word_count(point)
    return tuple(kept)


def record(counts: CitationCounts, result: PointCheck) -> None:
    """Add a point check's drops to the citation counts."""
    counts.points_dropped_numbers += result.dropped_numbers
    counts.points_dropped_names += result.dropped_names
