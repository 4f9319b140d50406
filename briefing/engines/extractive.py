"""The offline engine: briefs made of the sources' own best sentences, no model needed.

Points and quotes come from the source itself, in the source's language. A brief
in a language no source is written in says plainly that translation needs an
LLM, and still lists the quotes. The pipeline also uses `best_quotes` to top up
a brief that ended with too few checked quotes.
"""

from __future__ import annotations

from briefing.config import Settings
from briefing.models import DraftBrief, DraftQuote, Feedback, Proposal, Story
from briefing.ranking import Candidate, rank_sentences, select, speech_passages
from briefing.text import shorten, word_count

QUOTE_WORDS = 45  # longer passages are not quotes a reader takes in
POINT_WORDS = 25  # a point is read at a glance; longer sentences are cut at a clause
LANGUAGE_NAMES = {"fr": ("French", "français"), "en": ("English", "anglais")}
_NO_TRANSLATION = {
    "en": ("Translation needs an LLM",
           "This brief was made offline, without a language model, so it is not translated: "
           "the sources are in {name_en}. The quotes below are verbatim from them."),
    "fr": ("La traduction nécessite un LLM",
           "Ce résumé a été fait hors ligne, sans modèle de langue, il n'est donc pas traduit : "
           "les sources sont en {name_fr}. "
           "Les citations ci-dessous en sont extraites mot pour mot."),
}


def _names(lang: str) -> tuple[str, str]:
    return LANGUAGE_NAMES.get(lang, (lang, lang))


def _quotable(ranked: list[Candidate], story: Story) -> list[Candidate]:
    """Reported speech first, then whole sentences short enough to quote."""
    pool = speech_passages(story, ranked) + ranked
    return [c for c in pool if word_count(c.text) <= QUOTE_WORDS]


def best_quotes(story: Story, n: int, exclude: tuple[str, ...] = ()) -> list[DraftQuote]:
    """The `n` best verbatim passages (reported speech first), spread over the sources."""
    pool = [c for c in _quotable(rank_sentences(story), story) if c.text not in exclude]
    return [DraftQuote(c.text, c.source) for c in select(pool, n, spread=True)]


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
        if not own:
            return self._untranslated(story, lang)
        ranked = rank_sentences(story, own)
        cfg = self.settings.brief
        title = next((s.title for s in own if s.title), None)
        if title is None and ranked:
            title, ranked = ranked[0].text, ranked[1:]
        headline = shorten(title or own[0].text, 14)
        points = self._points(ranked, cfg.max_words - word_count(headline))
        quotes = select(_quotable(ranked, story), cfg.max_quotes - 1, avoid=points, spread=True)
        return DraftBrief(headline, tuple(shorten(p.text, POINT_WORDS) for p in points),
                          tuple(DraftQuote(q.text, q.source) for q in quotes))

    def _points(self, ranked: list[Candidate], budget: int) -> list[Candidate]:
        kept: list[Candidate] = []
        for cand in select(ranked, self.settings.brief.max_points):
            cost = min(word_count(cand.text), POINT_WORDS)
            if cost > budget:
                break
            kept.append(cand)
            budget -= cost
        return kept

    def _untranslated(self, story: Story, lang: str) -> DraftBrief:
        headline, point = _NO_TRANSLATION.get(lang, _NO_TRANSLATION["en"])
        name_en, name_fr = _names(story.language)
        quotes = best_quotes(story, self.settings.brief.max_quotes - 1)
        return DraftBrief(headline, (point.format(name_en=name_en, name_fr=name_fr),),
                          tuple(quotes))
