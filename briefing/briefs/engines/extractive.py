"""The offline engine: briefs made of the sources' own best sentences, no model needed.

Points and quotes come from the source itself, in the source's language, as whole
sentences (or whole quotations): never cut to a word budget, the engine picks
shorter sentences or fewer points instead. The headline is the article's title,
else the best sentence that states the news on its own.

A brief in a language no source is written in cannot be translated offline: it is
the brief in the sources' language, marked with `original_language`, so readers
see it once, labelled untranslated. The pipeline also uses `best_quotes` to top up
a brief that ended with too few checked quotes.
"""

from __future__ import annotations

from dataclasses import replace

from briefing.briefs.checks import HEADLINE_WORDS
from briefing.briefs.citations import strip_edges
from briefing.briefs.engines.ranking import Candidate, rank_sentences, select, speech_passages
from briefing.briefs.grounding import support_of
from briefing.briefs.models import DraftBrief, DraftPoint, DraftQuote, Feedback, Proposal
from briefing.config import Settings
from briefing.sources.models import Document, Story
from briefing.text.marks import OPENING_MARKS, QUOTE_MARKS, is_balanced, pair_marks
from briefing.text.words import shorten, terms, word_count

QUOTE_WORDS = 45  # longer passages are not quotes a reader takes in
POINT_WORDS = 50  # a point is one sentence read at a glance, not a paragraph
HEADLINE_LOOK = 3  # a headline is one of the best few statements, not a detail further down
HEADLINE_MIN = 12  # when the headline must be cut to leave room for a point, not below this
# A further point must score at least this share of the best sentence: a weak sentence adds
# words, not news, so a brief has fewer points rather than filler.
POINT_SUPPORT = 0.7


def _quotable(cand: Candidate) -> bool:
    """A whole sentence or quotation, its marks paired, starting with a word or a mark."""
    text = strip_edges(cand.text)
    return (bool(text) and word_count(text) <= QUOTE_WORDS and is_balanced(text)
            and (text[0].isalnum() or text[0] in OPENING_MARKS))


def _quote_pool(story: Story, sources: tuple[Document, ...] | None = None) -> list[Candidate]:
    """Reported speech first, then whole sentences short enough to quote."""
    pool = speech_passages(story, sources) + rank_sentences(story, sources)
    return [c for c in pool if _quotable(c)]


def best_quotes(story: Story, n: int, exclude: tuple[str, ...] = ()) -> list[DraftQuote]:
    """The `n` best verbatim passages (reported speech first), spread over the sources."""
    pool = [c for c in _quote_pool(story) if strip_edges(c.text) not in exclude]
    return [DraftQuote(c.text, c.source) for c in select(pool, n, spread=True)]


def _statement(cand: Candidate) -> bool:
    """A sentence in the outlet's own words that stands alone: its quotation marks paired,
    not inside someone's quoted words, ending as a statement (no lead-in ":", no question,
    no trailing "…")."""
    end = cand.text.rstrip(QUOTE_MARKS + ")")
    return cand.balanced and not cand.in_speech and end[-1:] in ".!" and not end.endswith("...")


def _bare_quotation(text: str) -> bool:
    """A sentence that is only someone's words, with no one saying them: not a headline."""
    if text[0] not in QUOTE_MARKS:
        return False
    close = pair_marks(text).partners().get(0)
    return close is None or not any(ch.isalpha() for ch in text[close:])


def _headline(ranked: list[Candidate], first: Document) -> tuple[str, list[Candidate]]:
    """The best statement when it fits the headline's length, else a shorter one among the
    best few; cut short only when there is none (a text of few, very long sentences)."""
    statements = [c for c in ranked if _statement(c) and not _bare_quotation(c.text)]
    fitting = [c for c in statements[:HEADLINE_LOOK] if c.words <= HEADLINE_WORDS]
    if fitting:
        return fitting[0].text, [fitting[0]]
    if statements:
        return shorten(statements[0].text, HEADLINE_WORDS), [statements[0]]
    return shorten(first.text, HEADLINE_WORDS), []


class ExtractiveEngine:
    """Ranks source sentences; picks points and quotes from the text itself."""

    name = "extractive"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """Briefs for every configured language, built from the sources alone."""
        briefs = {lang: self._brief(story, lang) for lang in self.settings.brief.languages}
        return Proposal(briefs=briefs, engine=self.name)

    def _brief(self, story: Story, lang: str) -> DraftBrief:
        own = tuple(s for s in story.sources if s.language == lang)
        if not own:  # no translation offline: the sources' own brief, marked as such
            original = story.language
            brief = self._brief(story, original)
            return replace(brief, original_language=brief.original_language or original)
        ranked = rank_sentences(story, own)
        cfg = self.settings.brief
        title = next((s.title for s in own if s.title), None)
        if title is not None:  # the title as a passage, so that no point repeats it
            headline = title
            used = [Candidate(own[0].id, 0, 0, title, 0.0, frozenset(terms(title)))]
        else:
            headline, used = _headline(ranked, own[0])
        statements = [c for c in ranked if c not in used and _statement(c)
                      and select([c], 1, avoid=used)]
        pool = [c for c in statements if c.words <= POINT_WORDS]
        # The support of a point is measured against the news: the headline sentence, or with a
        # title the best sentence that does not repeat it.
        news = used[:1] if title is None and used else (statements or ranked)[:1]
        floor = POINT_SUPPORT * news[0].score if news else 0.0
        points = self._points(pool, used, cfg.max_words - word_count(headline), floor)
        room = [c for c in statements if c.words <= cfg.max_words - HEADLINE_MIN]
        if not points and room and cfg.max_points:  # the headline gives way, not the point
            points = room[:1]
            headline = shorten(headline, cfg.max_words - points[0].words)
        # In the order the story tells them: the brief reads as the article does.
        order = {doc.id: i for i, doc in enumerate(own)}
        points.sort(key=lambda c: (order[c.source], c.start))
        quotes = select(_quote_pool(story, own), cfg.max_quotes - 1, avoid=[*used, *points],
                        spread=True)
        # A point is a sentence of its source: it cites itself.
        sources = {doc.id: doc for doc in own}
        return DraftBrief(headline,
                          tuple(DraftPoint(p.text, (support_of(sources[p.source], p.start),))
                                for p in points),
                          tuple(DraftQuote(q.text, q.source) for q in quotes))

    def _points(self, pool: list[Candidate], avoid: list[Candidate], budget: int,
                floor: float) -> list[Candidate]:
        """The best whole sentences that fit the word budget, no two saying the same; after
        the first, only sentences scoring at least `floor`."""
        kept: list[Candidate] = []
        for cand in pool:
            if len(kept) >= self.settings.brief.max_points or (kept and cand.score < floor):
                break
            if cand.words <= budget and select([cand], 1, avoid=[*avoid, *kept]):
                kept.append(cand)
                budget -= cand.words
        return kept
