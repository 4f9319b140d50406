"""Summarising the stories whose brief is missing or out of date.

A story is pending while `summarised_version < version` (a new source raised
its version). Each is summarised by the core pipeline, with bounded
concurrency; its briefs are saved with the cost of that update. When the LLM
fails and the offline fallback is off, the story simply stays pending and is
tried again on the next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.models import Result
from briefing.briefs.pipeline import summarise
from briefing.clock import utcnow
from briefing.config import Settings
from briefing.errors import EngineError
from briefing.service.llm_log import StoreLLMCache
from briefing.sources.models import Document, Story
from briefing.store.db import Database
from briefing.store.models import SUMMARISED, ArticleRow, BriefRow, StoryRow

log = logging.getLogger(__name__)
EngineFactory = Callable[[], Engine]


@dataclass
class SummaryReport:
    """What one summarising pass did."""

    summarised: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def pending_story_ids(db: Database, limit: int = 1000) -> list[int]:
    """Stories whose brief is missing or older than their sources, oldest first."""
    with db.session() as session:
        query = (select(StoryRow.id).where(StoryRow.summarised_version < StoryRow.version)
                 .order_by(StoryRow.id).limit(limit))
        return list(session.scalars(query))


def _document(article: ArticleRow, index: int) -> Document:
    return Document(
        id=f"S{index}", text=article.text or "", language=article.language or "und",
        title=article.title, url=article.url, path=article.path, outlet=article.outlet,
        published=article.published_text,
    )


def load_story(session: Session, story_id: int) -> tuple[Story, int]:
    """The pipeline's view of a stored story, and the version it reflects."""
    story = session.get_one(StoryRow, story_id)
    docs = tuple(_document(a, i) for i, a in enumerate(story.articles, start=1))
    return Story(docs), story.version


def _save(session: Session, story_id: int, version: int, result: Result) -> None:
    story = session.get_one(StoryRow, story_id)
    existing = {b.language: b for b in story.briefs}
    for lang, brief in result.briefs.items():
        row = existing.get(lang) or BriefRow(story_id=story_id, language=lang)
        row.story_version = version
        row.headline, row.points = brief.headline, list(brief.points)
        row.original_language = brief.original_language
        row.quotes = [asdict(q) for q in brief.quotes]
        row.engine, row.model = result.engine, result.model
        row.usage, row.citations = asdict(result.usage), asdict(result.citations)
        session.add(row)
    # Digests cover what was briefed since a reader's last one, and skip what is withheld.
    story.briefed_at = utcnow()
    story.withheld = result.withheld
    # A source that arrived while we worked raised `version`: the story stays pending.
    story.summarised_version = max(story.summarised_version, version)
    for article in story.articles:
        article.state = SUMMARISED if article.state != "delivered" else article.state


def summarise_story(db: Database, story_id: int, engine: Engine, settings: Settings,
                    fallback: bool | None = None) -> None:
    """Summarise one stored story and save its briefs.

    `fallback` (default: `service.offline_fallback`) lets the offline engine
    write the briefs when the LLM fails; otherwise the LLM's error is raised.
    """
    with db.session() as session:
        story, version = load_story(session, story_id)
    use_fallback = settings.service.offline_fallback if fallback is None else fallback
    result = summarise(story, settings, engine, fallback=use_fallback)
    with db.session() as session:
        _save(session, story_id, version, result)


def summarise_pending(
    db: Database, settings: Settings, engine_factory: EngineFactory | None = None
) -> SummaryReport:
    """Summarise every pending story, a few at a time."""
    factory = engine_factory or (lambda: select_engine(settings, cache=StoreLLMCache(db)))
    engine = factory()
    report = SummaryReport()

    def work(story_id: int) -> None:
        try:
            summarise_story(db, story_id, engine, settings)
            report.summarised.append(story_id)
        except EngineError as exc:  # the LLM is down: the story waits for the next cycle
            log.warning("story %s stays pending: %s", story_id, exc)
            report.failed[story_id] = str(exc)

    with ThreadPoolExecutor(max_workers=settings.service.summarise_concurrency) as pool:
        list(pool.map(work, pending_story_ids(db)))
    return report
