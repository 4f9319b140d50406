"""What the brief stage proposes and returns: drafts, checked quotes, briefs, results.

Contract: a `Quote` always satisfies `quote.text == source.text[quote.start:quote.end]`;
only `citations.verify_quotes` creates quotes, so nothing downstream trusts an
unchecked one. Drafts (`DraftBrief`, `DraftQuote`) are what engines propose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from briefing.llm.usage import Usage
from briefing.sources.models import Story
from briefing.text.words import words


@dataclass(frozen=True)
class DraftQuote:
    """A quote as an engine proposed it: not yet checked against the source."""

    text: str
    source: str
    translation: str | None = None


@dataclass(frozen=True)
class DraftBrief:
    """A brief as an engine proposed it."""

    headline: str
    points: tuple[str, ...]
    quotes: tuple[DraftQuote, ...]
    # Set when headline and points are in this language, not the brief's (offline, untranslated).
    original_language: str | None = None


@dataclass(frozen=True)
class Proposal:
    """What an engine returns: draft briefs by language, and what it cost."""

    briefs: dict[str, DraftBrief]
    engine: str
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    transcript: tuple[dict[str, str], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feedback:
    """Quotes that failed the check, sent back to the engine for one retry."""

    previous: Proposal
    rejected: tuple[tuple[str, DraftQuote, str], ...]  # (language, quote, reason)


@dataclass(frozen=True)
class Quote:
    """A checked quote: `text == source.text[start:end]`.

    In a brief, a quote in the brief's language has no `translation`; a quote in
    another language has one, or `untranslated` is True (see `in_brief`).
    """

    text: str
    source: str
    start: int
    end: int
    translation: str | None = None
    # True when the quote is in another language than its brief and came without a real
    # translation (the offline engine, or a model that gave none): renderers label it.
    untranslated: bool = False

    def in_brief(self, brief_language: str, quote_language: str) -> Quote:
        """This quote as a brief in `brief_language` shows it, whatever the engine proposed.

        Same language: never a translation. Other language: the translation, unless it is
        missing, blank or the quote's own words again, in which case it is marked untranslated.
        """
        if quote_language == brief_language:
            return replace(self, translation=None, untranslated=False)
        translation = (self.translation or "").strip()
        if not translation or _folded_words(translation) == _folded_words(self.text):
            return replace(self, translation=None, untranslated=True)
        return replace(self, translation=translation, untranslated=False)


def _folded_words(text: str) -> list[str]:
    return [word.casefold() for word in words(text)]


@dataclass(frozen=True)
class Brief:
    """A finished brief in one language."""

    language: str
    headline: str
    points: tuple[str, ...]
    quotes: tuple[Quote, ...]
    # The language the headline and points are really written in, when it is not `language`
    # (an offline brief cannot translate: it shows the source's brief, labelled untranslated).
    original_language: str | None = None


@dataclass
class CitationCounts:
    """What happened to the quotes and points an engine proposed."""

    proposed: int = 0
    verified: int = 0
    repaired: int = 0
    rejected: int = 0
    fallback: int = 0
    points_dropped_numbers: int = 0
    points_dropped_names: int = 0


@dataclass(frozen=True)
class Result:
    """The outcome of summarising one story."""

    story: Story
    briefs: dict[str, Brief]
    engine: str
    model: str | None
    usage: Usage
    citations: CitationCounts
    notes: tuple[str, ...] = ()
    # Why these briefs must not reach a reader (no sentence, no point, too few quotes); None
    # when they may. The CLI shows it as a note; the service stores it and skips the story.
    withheld: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form printed by `briefing summarize --json`."""
        sources = [
            {k: v for k, v in asdict(s).items() if k != "text"} for s in self.story.sources
        ]
        return {
            "story": {"sources": sources},
            "briefs": {
                lang: {
                    "headline": b.headline,
                    "points": list(b.points),
                    "quotes": [asdict(q) for q in b.quotes],
                    "original_language": b.original_language,
                }
                for lang, b in self.briefs.items()
            },
            "engine": self.engine,
            "model": self.model,
            "usage": asdict(self.usage),
            "citations": asdict(self.citations),
            "notes": list(self.notes),
            "withheld": self.withheld,
        }
