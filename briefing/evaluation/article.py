"""One article's evaluation: load it, run the real pipeline, measure the result.

Anything that goes wrong with one article (unreadable file, empty text, a bug)
is kept as that article's error with its reason; the run goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from briefing.briefs.engines.extractive import ExtractiveEngine
from briefing.briefs.engines.select import select_engine
from briefing.briefs.models import CitationCounts, Result
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.errors import BriefingError, LLMError
from briefing.evaluation.cache import CallRecorder, CallStat, FileCache
from briefing.evaluation.corpus import Item, load_item
from briefing.evaluation.judge import Judge
from briefing.evaluation.points import PointOutcome, outcomes
from briefing.evaluation.rouge import rouge
from briefing.evaluation.signals import Signals, brief_text, measure
from briefing.sources.models import Story
from briefing.text.sentences import split_sentences
from briefing.text.tokens import count_tokens, get_encoding

log = logging.getLogger(__name__)


@dataclass
class ArticleEval:
    """Everything measured on one article (or why it could not be)."""

    id: str
    error: str | None = None
    engine: str | None = None
    language: str | None = None
    article_tokens: int = 0
    seconds: float = 0.0
    citations: CitationCounts = field(default_factory=CitationCounts)
    engine_fallback: bool = False
    signals: Signals = field(default_factory=Signals)
    rouge: dict[str, dict[str, float]] = field(default_factory=dict)  # system -> scores
    calls: list[CallStat] = field(default_factory=list)
    # Every point, delivered or rejected by the check, with the judge's verdict under --judge.
    points: list[PointOutcome] = field(default_factory=list)
    judge_error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def fallback(self) -> bool:
        """True when the offline engine had to help: quotes topped up, or the LLM failed."""
        return self.engine_fallback or self.citations.fallback > 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (one entry of `articles` in `briefing eval --json`)."""
        data = asdict(self)
        data["fallback"] = self.fallback
        data["points"] = [p.to_dict() for p in self.points]
        return data


@dataclass(frozen=True)
class Context:
    """What every article's evaluation shares."""

    settings: Settings
    engine: str | None  # --engine, else the configured choice
    judge: str | None = None  # --judge MODEL
    cache: FileCache | None = None


def reason(exc: BaseException) -> str:
    """An error as one line for the report."""
    text = str(exc) if isinstance(exc, BriefingError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def evaluate(item: Item, ctx: Context) -> ArticleEval:
    """Evaluate one article; never raises (errors are recorded in the result)."""
    found = ArticleEval(item.id)
    started = time.monotonic()
    try:
        _evaluate(item, ctx, found)
    except Exception as exc:  # one bad article never stops the run
        log.debug("article %s failed", item.id, exc_info=True)
        found.error = reason(exc)
    found.seconds = round(time.monotonic() - started, 3)
    return found


def _evaluate(item: Item, ctx: Context, found: ArticleEval) -> None:
    settings = ctx.settings
    story = load_item(item, settings.fetch)
    doc = story.sources[0]
    found.language = doc.language
    found.article_tokens = count_tokens(doc.text, get_encoding(settings.llm.model,
                                                               settings.llm.encoding))
    recorder = CallRecorder(ctx.cache)
    found.calls = recorder.calls  # filled as calls are made, kept even if a later step fails
    engine = select_engine(settings, ctx.engine, cache=recorder)
    result = summarise(story, settings, engine)
    found.engine = result.engine
    found.engine_fallback = result.engine != engine.name
    found.citations = result.citations
    found.notes = result.notes
    found.signals = measure(result)
    found.points = outcomes(result)
    if item.reference:
        offline = result if engine.name == "extractive" else summarise(
            story, settings, ExtractiveEngine(settings))
        found.rouge = scores(item.reference, story, result, offline)
    if ctx.judge:
        _judge(result, ctx, found)


def lead(story: Story, n: int = 2) -> str:
    """The first `n` sentences of the story's first source (the lead-n baseline)."""
    text = story.sources[0].text
    return " ".join(text[s.start : s.end] for s in split_sentences(text)[:n])


def scores(reference: str, story: Story, result: Result, offline: Result) -> dict[
        str, dict[str, float]]:
    """ROUGE of the brief, the offline engine's brief and lead-2, in the story's language."""
    lang = story.language
    if lang not in result.briefs:
        return {}
    return {
        "brief": rouge(reference, brief_text(result.briefs[lang]), lang),
        "offline": rouge(reference, brief_text(offline.briefs[lang]), lang),
        "lead2": rouge(reference, lead(story), lang),
    }


def _judge(result: Result, ctx: Context, found: ArticleEval) -> None:
    assert ctx.judge is not None
    recorder = CallRecorder(ctx.cache, phase="judge")
    try:
        found.points = Judge(ctx.settings, ctx.judge, recorder).judge(result, found.points)
    except LLMError as exc:
        found.judge_error = reason(exc)
    finally:
        found.calls.extend(recorder.calls)
