"""The orchestrator: a story in, checked French and English briefs out.

propose (engine) -> verify quotes and points -> one retry for what was rejected (quotes
and points together, with the reasons) -> top up with the offline engine's best
passages -> a brief left with no supported point gets the offline engine's (they cite
themselves) -> cut to limits. An engine failure falls back to the offline engine for
that story, never to an empty result.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from briefing.briefs import checks
from briefing.briefs.citations import QuoteCheck, verify_quotes
from briefing.briefs.engines.extractive import ExtractiveEngine, best_quotes
from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.grounding import PointCheck, verify_points
from briefing.briefs.models import (
    Brief,
    CitationCounts,
    DraftBrief,
    DraftQuote,
    Feedback,
    Point,
    Proposal,
    Result,
)
from briefing.config import Settings
from briefing.errors import EngineError
from briefing.llm.usage import Usage
from briefing.sources.models import Story
from briefing.text.sentences import iter_sentences
from briefing.text.words import shorten

log = logging.getLogger(__name__)
# A "sentence" longer than this is a run of text without punctuation, not a sentence.
MAX_SENTENCE_CHARS = 2_000
_SENTENCE_END = re.compile(r"""[.!?…][\s»”"’')\]]*$""")


def _drafts(proposal: Proposal) -> dict[str, list[DraftQuote]]:
    return {lang: list(brief.quotes) for lang, brief in proposal.briefs.items()}


def _propose(engine: Engine, story: Story, settings: Settings, notes: list[str],
             fallback: bool) -> Proposal:
    try:
        return engine.propose(story)
    except EngineError as exc:
        if not fallback:
            raise
        log.warning("engine %s failed, using the offline engine: %s", engine.name, exc)
        notes.append(f"{engine.name} engine failed ({exc}); the offline engine wrote this brief")
        offline = ExtractiveEngine(settings).propose(story)
        if isinstance(exc.usage, Usage):
            offline.usage.add(exc.usage)
        return offline


def _points(proposal: Proposal, story: Story, settings: Settings) -> PointCheck:
    drafts = {lang: (brief.original_language or lang, brief.points)
              for lang, brief in proposal.briefs.items()}
    return verify_points(drafts, story, settings.brief.point_word_share)


@dataclass
class _Checked:
    """Where the checks stand: quotes (accumulating), points by language, what they cost."""

    quotes: QuoteCheck
    points: PointCheck
    usage: Usage = field(default_factory=Usage)


def _retry(engine: Engine, story: Story, proposal: Proposal, checked: _Checked,
           settings: Settings, notes: list[str]) -> None:
    """One more round for rejected quotes and points, with the reasons.

    Retried quotes add to the accepted ones. A brief whose points were rejected takes the
    retry's points when at least as many of them pass (the retry answers with the whole
    brief again), else keeps the points that passed the first time."""
    feedback = Feedback(proposal, tuple(checked.quotes.rejected), tuple(checked.points.rejected))
    checked.quotes.counts.points_retried += len(checked.points.rejected)
    try:
        retry = engine.propose(story, feedback)
    except EngineError as exc:
        notes.append(f"retry failed ({exc})")
        checked.usage.add(exc.usage if isinstance(exc.usage, Usage) else Usage())
        return
    checked.usage.add(retry.usage)
    verify_quotes(_drafts(retry), story, checked.quotes)
    again = _points(retry, story, settings)
    failed = {r.language for r in checked.points.rejected}
    rejected = []
    for lang in checked.points.points:
        first = checked.points.points[lang]
        if lang in failed and len(again.points.get(lang, [])) >= len(first):
            checked.points.points[lang] = again.points[lang]
            rejected += [r for r in again.rejected if r.language == lang]
        else:
            rejected += [r for r in checked.points.rejected if r.language == lang]
    checked.points.rejected = rejected


def _top_up(lang: str, story: Story, check: QuoteCheck, settings: Settings) -> None:
    """Give a brief with too few checked quotes the offline engine's best passages."""
    have = check.quotes.setdefault(lang, [])
    need = settings.brief.min_quotes - len(have)
    if need <= 0:
        return
    drafts = best_quotes(story, need + len(have), exclude=tuple(q.text for q in have))
    before = len(have)
    # A separate check that shares the accepted quotes: top-ups are counted as fallback.
    verify_quotes({lang: drafts[:need]}, story, QuoteCheck(quotes=check.quotes))
    check.counts.fallback += len(have) - before


class _Offline:
    """The offline engine's briefs of the story, made once and only when needed."""

    def __init__(self, story: Story, settings: Settings) -> None:
        self.story, self.settings = story, settings
        self._proposal: Proposal | None = None
        self._points: PointCheck | None = None

    def brief(self, lang: str) -> tuple[DraftBrief, list[Point]]:
        """The offline draft for `lang` and its points, checked like any engine's."""
        if self._proposal is None:
            self._proposal = ExtractiveEngine(self.settings).propose(self.story)
            self._points = _points(self._proposal, self.story, self.settings)
        assert self._points is not None
        return self._proposal.briefs[lang], self._points.points.get(lang, [])


def _grounded(lang: str, draft: DraftBrief, points: list[Point], offline: _Offline,
              counts: CitationCounts, notes: list[str]) -> tuple[DraftBrief, list[Point]]:
    """The brief's draft and points; a brief left with no supported point takes the
    offline engine's headline and points (the model's headline stood on the points)."""
    counts.points_supported += len(points)
    if points:
        return draft, points
    fallback, own = offline.brief(lang)
    if own:
        counts.points_fallback += len(own)
        notes.append(f"no point of the {lang} brief passed the check; the offline engine's "
                     "points (sentences of the sources) replace them" if draft.points else
                     f"the {lang} brief came with no point; the offline engine's points "
                     "(sentences of the sources) are its points")
        return DraftBrief(fallback.headline, fallback.points, draft.quotes,
                          fallback.original_language), own
    return draft, points


def _finish(lang: str, draft: DraftBrief, points: list[Point], story: Story,
            check: QuoteCheck, settings: Settings) -> Brief:
    cfg = settings.brief
    headline = shorten(draft.headline, checks.HEADLINE_WORDS)
    kept = checks.fit_words(headline, points, cfg)
    # One rule for every engine: a quote in the brief's language carries no translation,
    # one in another language carries one or is marked untranslated.
    languages = {doc.id: doc.language for doc in story.sources}
    quotes = tuple(q.in_brief(lang, languages.get(q.source, lang))
                   for q in check.quotes.get(lang, [])[: cfg.max_quotes])
    return Brief(lang, headline, kept, quotes, draft.original_language)


def summarise(
    story: Story, settings: Settings, engine: Engine | None = None, fallback: bool = True
) -> Result:
    """Summarise one story into checked briefs, one per configured language.

    When the engine fails, the offline engine writes the briefs; with
    `fallback=False` the engine's error is raised instead, so the caller can retry.
    """
    engine = engine or select_engine(settings)
    notes: list[str] = []
    proposal = _propose(engine, story, settings, notes, fallback)
    usage = Usage()
    usage.add(proposal.usage)
    checked = _Checked(verify_quotes(_drafts(proposal), story), _points(proposal, story, settings))
    check = checked.quotes
    check.counts.points_proposed = sum(len(b.points) for b in proposal.briefs.values())
    if ((check.rejected or checked.points.rejected) and proposal.engine == engine.name
            and engine.name != "extractive"):
        _retry(engine, story, proposal, checked, settings, notes)
        usage.add(checked.usage)
    for rejected in checked.points.rejected:
        check.counts.drop(rejected.reason)
    offline = _Offline(story, settings)
    briefs = {}
    for lang in settings.brief.languages:
        _top_up(lang, story, check, settings)
        draft, points = _grounded(lang, proposal.briefs[lang], checked.points.points.get(lang, []),
                                  offline, check.counts, notes)
        briefs[lang] = _finish(lang, draft, points, story, check, settings)
    # How the sources were read (a detected charset, replaced bytes) comes first.
    all_notes = [n for doc in story.sources for n in doc.notes] + notes + list(proposal.notes)
    withheld = withheld_reason(story, briefs, settings)
    if withheld is not None:
        log.warning("brief withheld from readers: %s", withheld)
        all_notes.append(f"withheld from readers: {withheld}")
    return Result(story, briefs, proposal.engine, proposal.model, usage, check.counts,
                  tuple(all_notes), withheld, tuple(checked.points.rejected))


def has_sentence(text: str) -> bool:
    """Whether the text holds a sentence: at most MAX_SENTENCE_CHARS, closed by . ! ? or …"""
    return any(s.end - s.start <= MAX_SENTENCE_CHARS
               and _SENTENCE_END.search(text, max(s.start, s.end - 16), s.end) is not None
               for s in iter_sentences(text))


def withheld_reason(story: Story, briefs: dict[str, Brief], settings: Settings) -> str | None:
    """Why these briefs must not reach a reader, in one line; None when they may.

    A story whose sources hold no sentence (no end punctuation, one huge line) has nothing a
    brief can stand on; a brief with no point, or fewer checked quotes than
    `brief.min_quotes`, is not the brief readers were promised.
    """
    if not any(has_sentence(doc.text) for doc in story.sources):
        return "the sources hold no sentence (no . ! ? or … ending a line of reasonable length)"
    reasons = []
    for lang, brief in briefs.items():
        if not brief.points:
            reasons.append(f"the {lang} brief has no point")
        if len(brief.quotes) < settings.brief.min_quotes:
            n = len(brief.quotes)
            reasons.append(f"the {lang} brief has {n} checked quote{'' if n == 1 else 's'}, "
                           f"fewer than brief.min_quotes ({settings.brief.min_quotes})")
    return "; ".join(reasons) or None
