"""The orchestrator: a story in, checked French and English briefs out.

propose (engine) -> verify quotes -> one retry for rejected quotes -> top up
with the offline engine's best passages -> check points -> cut to limits.
An engine failure falls back to the offline engine for that story, never to an
empty result.
"""

from __future__ import annotations

import logging

from briefing import checks
from briefing.citations import QuoteCheck, verify_quotes
from briefing.config import Settings
from briefing.engines import Engine, select_engine
from briefing.engines.extractive import ExtractiveEngine, best_quotes
from briefing.errors import EngineError
from briefing.models import Brief, DraftBrief, DraftQuote, Feedback, Proposal, Result, Story, Usage
from briefing.text import shorten

log = logging.getLogger(__name__)
HEADLINE_WORDS = 20


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
    headline = shorten(draft.headline, HEADLINE_WORDS)
    point_check = checks.check_points(draft.points, lang, story)
    checks.record(check.counts, point_check)
    points = checks.fit_words(headline, point_check.points, cfg)
    quotes = tuple(check.quotes.get(lang, [])[: cfg.max_quotes])
    return Brief(lang, headline, points, quotes)


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
    return Result(story, briefs, proposal.engine, proposal.model, usage, check.counts,
                  tuple(notes) + proposal.notes)
