"""The orchestrator: a story in, checked French and English briefs out.

propose (engine) -> verify quotes -> one retry for rejected quotes -> top up
with the offline engine's best passages -> check points -> cut to limits.
An engine failure falls back to the offline engine for that story, never to an
empty result.
"""

from __future__ import annotations

import logging
import re

from briefing.briefs import checks
from briefing.briefs.citations import QuoteCheck, verify_quotes
from briefing.briefs.engines.extractive import ExtractiveEngine, best_quotes
from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.models import Brief, DraftBrief, DraftQuote, Feedback, Proposal, Result
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


def _retry(engine: Engine, story: Story, proposal: Proposal, check: QuoteCheck,
           notes: list[str]) -> Usage:
    """One more round for rejected quotes; returns what it cost."""
    feedback = Feedback(proposal, tuple(check.rejected))
    try:
        retry = engine.propose(story, feedback)
    except EngineError as exc:
        notes.append(f"quote retry failed ({exc})")
        return exc.usage if isinstance(exc.usage, Usage) else Usage()
    verify_quotes(_drafts(retry), story, check)
    return retry.usage


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


def _finish(lang: str, draft: DraftBrief, story: Story, check: QuoteCheck,
            settings: Settings) -> Brief:
    cfg = settings.brief
    headline = shorten(draft.headline, checks.HEADLINE_WORDS)
    point_check = checks.check_points(draft.points, lang, story)
    checks.record(check.counts, point_check)
    points = checks.fit_words(headline, point_check.points, cfg)
    # One rule for every engine: a quote in the brief's language carries no translation,
    # one in another language carries one or is marked untranslated.
    languages = {doc.id: doc.language for doc in story.sources}
    quotes = tuple(q.in_brief(lang, languages.get(q.source, lang))
                   for q in check.quotes.get(lang, [])[: cfg.max_quotes])
    return Brief(lang, headline, points, quotes, draft.original_language)


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
    check = verify_quotes(_drafts(proposal), story)
    if check.rejected and proposal.engine == engine.name and engine.name != "extractive":
        usage.add(_retry(engine, story, proposal, check, notes))
    briefs = {}
    for lang in settings.brief.languages:
        _top_up(lang, story, check, settings)
        briefs[lang] = _finish(lang, proposal.briefs[lang], story, check, settings)
    # How the sources were read (a detected charset, replaced bytes) comes first.
    all_notes = [n for doc in story.sources for n in doc.notes] + notes + list(proposal.notes)
    withheld = withheld_reason(story, briefs, settings)
    if withheld is not None:
        log.warning("brief withheld from readers: %s", withheld)
        all_notes.append(f"withheld from readers: {withheld}")
    return Result(story, briefs, proposal.engine, proposal.model, usage, check.counts,
                  tuple(all_notes), withheld)


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
