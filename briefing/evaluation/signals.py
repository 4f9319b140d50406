"""Faithfulness signals that need no model, measured on one finished result.

- numbers (written in digits) and names (capitalised words) of the delivered points, and
  how many of them are written as such in the sentences each point cites, and anywhere in
  the story. The pipeline already rejects a point whose numbers' values or names its cited
  sentences lack, so "found in the source" would always be 100 %; what is left to see is
  what the check let through on its looser rules: a number in another notation ("10
  billion" for "10 milliards"), a name translated or respelled across languages
  ("Pentagon" for "Pentagone") or with one word no source gives. Those points are the ones
  to read. Counted per brief language: in a source's own language names must be as
  written, so the figure is mostly about the other language;
- brief length in words (headline + points) and quotes per brief;
- whether each brief is written in the language it is meant for (py3langid), or, for
  an offline brief shown untranslated, in the language it says it is in;
- how the text reads: points ending with an ellipsis (a sentence cut to a budget) and
  quotes whose quotation marks do not pair inside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from briefing.briefs.checks import SourceFacts, unsupported_numbers
from briefing.briefs.grounding import names as names_in
from briefing.briefs.models import Brief, Point, Result
from briefing.sources.models import Story
from briefing.text.language import detect_language
from briefing.text.marks import is_balanced
from briefing.text.words import fold, word_count

_WORD = re.compile(r"[^\W\d_]+")


@dataclass
class Found:
    """Numbers (or names) of some points: how many, how many are written as such in the
    sentences their point cites, and how many anywhere in the story."""

    total: int = 0
    cited: int = 0
    story: int = 0


@dataclass
class Signals:
    """One article's signals, per language where they differ by language."""

    numbers: dict[str, Found] = field(default_factory=dict)
    names: dict[str, Found] = field(default_factory=dict)
    words: dict[str, int] = field(default_factory=dict)
    quotes: dict[str, int] = field(default_factory=dict)
    language_ok: dict[str, bool] = field(default_factory=dict)
    points: int = 0
    points_ellipsis: int = 0
    quotes_checked: int = 0
    quotes_unbalanced: int = 0


@dataclass(frozen=True)
class Written:
    """What a text writes, to look a point's numbers and names up in: its number forms, and
    its folded words (whole words: "Pentagon" is not written in "Pentagone")."""

    facts: SourceFacts
    words: frozenset[str]

    @classmethod
    def of(cls, text: str) -> Written:
        """What `text` writes."""
        return cls(SourceFacts.of(text), frozenset(_WORD.findall(fold(text))))

    def numbers_missing(self, point: str) -> list[str]:
        """Numbers of `point` (in digits) this text does not write."""
        return unsupported_numbers(point, self.facts)

    def names_missing(self, point: str) -> list[str]:
        """Names of `point` one of whose words this text does not write."""
        return [n for n in names_in(point)
                if any(w not in self.words for w in _WORD.findall(fold(n)))]


_NOTHING = Written.of("")  # an empty text: every number and name of a point is missing


def story_written(story: Story) -> Written:
    """What every source of the story writes, titles included."""
    return Written.of("\n".join(s.text + "\n" + (s.title or "") for s in story.sources))


def brief_text(brief: Brief) -> str:
    """The words a reader reads first: the headline and the points."""
    return "\n".join([brief.headline, *(p.text for p in brief.points)])


def states_facts(result: Result, lang: str) -> bool:
    """False for an offline brief in a language no source is in: it repeats the brief in the
    sources' language, untranslated, so its points and quotes are not counted twice."""
    if result.briefs[lang].original_language is not None:
        return False
    return result.engine != "extractive" or any(s.language == lang for s in result.story.sources)


def cut_short(text: str) -> bool:
    """Whether a point ends with an ellipsis, as a sentence cut to a word budget does."""
    return text.rstrip().endswith(("…", "..."))


def _count(point: Point, story: Written, numbers: Found, names: Found) -> None:
    cited = Written.of("\n".join(s.text for s in point.support))
    found = _NOTHING.numbers_missing(point.text)
    numbers.total += len(found)
    numbers.cited += len(found) - len(cited.numbers_missing(point.text))
    numbers.story += len(found) - len(story.numbers_missing(point.text))
    found = _NOTHING.names_missing(point.text)
    names.total += len(found)
    names.cited += len(found) - len(cited.names_missing(point.text))
    names.story += len(found) - len(story.names_missing(point.text))


def measure(result: Result) -> Signals:
    """The signals of a result's briefs (numbers and names only where points state facts)."""
    story = story_written(result.story)
    signals = Signals()
    for lang, brief in result.briefs.items():
        if states_facts(result, lang):
            signals.points += len(brief.points)
            signals.points_ellipsis += sum(cut_short(p.text) for p in brief.points)
            signals.quotes_checked += len(brief.quotes)
            signals.quotes_unbalanced += sum(not is_balanced(q.text) for q in brief.quotes)
            numbers = signals.numbers[lang] = Found()
            names = signals.names[lang] = Found()
            for point in brief.points:
                _count(point, story, numbers, names)
        text = brief_text(brief)
        signals.words[lang] = word_count(text)
        signals.quotes[lang] = len(brief.quotes)
        intended = brief.original_language or lang
        signals.language_ok[lang] = bool(text.strip()) and detect_language(text) == intended
    return signals
