"""What the brief stage proposes and returns: drafts, checked quotes and points, briefs.

Contract: a `Quote` always satisfies `quote.text == source.text[quote.start:quote.end]`;
only `citations.verify_quotes` creates quotes, so nothing downstream trusts an
unchecked one. A `Point` carries its `Support`, the source sentences it rests on, each
with the same contract (`support.text == source.text[support.start:support.end]`); only
`grounding.check_point` creates points. Drafts (`DraftBrief`, `DraftPoint`,
`DraftQuote`) are what engines propose.
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
class SentenceRef:
    """A source sentence as an engine cites it: source id and sentence number (from 1, as
    the prompt numbers them)."""

    source: str
    sentence: int

    def __str__(self) -> str:
        return f"{self.source}:{self.sentence}"


@dataclass(frozen=True)
class DraftPoint:
    """A point as an engine proposed it, with the sentences it says it rests on."""

    text: str
    support: tuple[SentenceRef, ...] = ()


@dataclass(frozen=True)
class DraftBrief:
    """A brief as an engine proposed it."""

    headline: str
    points: tuple[DraftPoint, ...]
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
    """Quotes and points that failed their checks, sent back to the engine for one retry."""

    previous: Proposal
    rejected: tuple[tuple[str, DraftQuote, str], ...]  # (language, quote, reason)
    rejected_points: tuple[RejectedPoint, ...] = ()


@dataclass(frozen=True)
class Support:
    """A checked source sentence under a point: `text == source.text[start:end]`.

    `sentence` is its number in the source (from 1), as prompts and markers show it."""

    source: str
    sentence: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Point:
    """A checked point: its text, and the source sentences that say it (never empty, but
    for a brief stored before points carried their support)."""

    text: str
    support: tuple[Support, ...]


@dataclass(frozen=True)
class RejectedPoint:
    """A point that failed its check: why (`reason`, one of `POINT_REASONS`), and a hint
    for the retry (the closest sentence, the missing words)."""

    language: str
    point: DraftPoint
    reason: str
    hint: str


# Why a point is not delivered: it cites nothing, cites a sentence that does not exist,
# rests on the wrong source, or its numbers, names or words are not in what it cites.
POINT_REASONS = ("no_support", "unknown_sentence", "wrong_source", "numbers", "names", "words")


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
    points: tuple[Point, ...]
    quotes: tuple[Quote, ...]
    # The language the headline and points are really written in, when it is not `language`
    # (an offline brief cannot translate: it shows the source's brief, labelled untranslated).
    original_language: str | None = None


@dataclass
class CitationCounts:
    """What happened to the quotes and points an engine proposed.

    Points: `points_proposed` in the first answer, `points_supported` delivered checked,
    `points_retried` sent back once, `points_dropped_<reason>` still failing (see
    `POINT_REASONS`), `points_fallback` the offline engine's points given to a brief left
    with none."""

    proposed: int = 0
    verified: int = 0
    repaired: int = 0
    rejected: int = 0
    fallback: int = 0
    points_proposed: int = 0
    points_supported: int = 0
    points_retried: int = 0
    points_dropped_no_support: int = 0
    points_dropped_unknown_sentence: int = 0
    points_dropped_wrong_source: int = 0
    points_dropped_numbers: int = 0
    points_dropped_names: int = 0
    points_dropped_words: int = 0
    points_fallback: int = 0

    def drop(self, reason: str) -> None:
        """Count one point dropped for `reason` (one of `POINT_REASONS`)."""
        name = f"points_dropped_{reason}"
        setattr(self, name, getattr(self, name) + 1)

    @property
    def points_dropped(self) -> int:
        """Points dropped, whatever the reason."""
        return sum(getattr(self, f"points_dropped_{r}") for r in POINT_REASONS)


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
    # Points that failed their check and were not delivered (for `briefing eval`'s judge).
    rejected_points: tuple[RejectedPoint, ...] = ()

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
                    "points": [asdict(p) for p in b.points],
                    "quotes": [asdict(q) for q in b.quotes],
                    "original_language": b.original_language,
                }
                for lang, b in self.briefs.items()
            },
            "engine": self.engine,
            "model": self.model,
            "usage": asdict(self.usage),
            "citations": asdict(self.citations) | {
                "points_dropped": self.citations.points_dropped},
            "notes": list(self.notes),
            "withheld": self.withheld,
            "rejected_points": [
                {"language": r.language, "text": r.point.text,
                 "support": [str(ref) for ref in r.point.support], "reason": r.reason,
                 "hint": r.hint}
                for r in self.rejected_points
            ],
        }
