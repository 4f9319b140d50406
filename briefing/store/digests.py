"""Queries of digest selection: the stories briefed since a reader's last digest, and the
briefs and articles a digest shows of them.

Selection follows arrival (`StoryRow.briefed_at`), never publication, and leaves out
withheld stories. The same stories are read again at delivery (`briefed_stories`), so a
queued digest shows the briefs as they are when it goes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from briefing.briefs.models import Brief, Quote
from briefing.store.db import Database
from briefing.store.models import ArticleRow, BriefRow, StoryRow


@dataclass(frozen=True)
class StoryPick:
    """One story a digest selection picked, with what orders it."""

    id: int
    last_published: datetime | None
    sources: int


@dataclass(frozen=True)
class DigestArticle:
    """What a digest shows of one source article."""

    outlet: str | None
    title: str | None
    url: str | None
    path: str | None


@dataclass(frozen=True)
class BriefedStory:
    """A story as a digest reads it: its briefs in the languages asked (in that order) and
    its articles in arrival order (the order that numbers them S1, S2, ...)."""

    story_id: int
    published: datetime | None
    briefs: tuple[Brief, ...]
    articles: tuple[DigestArticle, ...]


def quote_of(data: dict[str, Any]) -> Quote:
    """A stored quote (a JSON object of `BriefRow.quotes`) as a checked `Quote`."""
    # Rows written before `untranslated` existed lack it (and tests store minimal quotes).
    return Quote(text=str(data["text"]), source=str(data["source"]),
                 start=int(data.get("start", 0)), end=int(data.get("end", 0)),
                 translation=data.get("translation"),
                 untranslated=bool(data.get("untranslated", False)))


def brief_of(row: BriefRow) -> Brief:
    """A stored brief as the pipeline's `Brief`."""
    return Brief(language=row.language, headline=row.headline,
                 points=tuple(str(p) for p in row.points),
                 quotes=tuple(quote_of(q) for q in row.quotes),
                 original_language=row.original_language)


def story_rows(session: Session, since: datetime, feeds: Sequence[int],
               limit: int) -> list[StoryPick]:
    """The stories briefed after `since` (arrival, not publication) and not withheld, from
    these feeds (every feed when empty), best-sourced first, then newest."""
    # The ids come from a range of ix_stories_briefed_at in a subquery of their own: joined
    # directly, SQLite (no ANALYZE) prefers scanning every story to grouping by id after the
    # range, and that scan would grow with the store's history.
    arrived = aliased(StoryRow)
    recent = select(arrived.id).where(arrived.briefed_at > since, arrived.withheld.is_(None))
    sources = func.count(func.distinct(ArticleRow.id)).label("sources")
    query = (
        select(StoryRow.id, StoryRow.last_published, sources)
        .join(ArticleRow, ArticleRow.story_id == StoryRow.id)
        .where(StoryRow.id.in_(recent))
        .group_by(StoryRow.id, StoryRow.last_published)
        .order_by(sources.desc(), StoryRow.last_published.desc(), StoryRow.id.desc())
        .limit(limit)
    )
    if feeds:
        query = query.where(ArticleRow.feed_id.in_(list(feeds)))
    return [StoryPick(row.id, row.last_published, int(row.sources))
            for row in session.execute(query)]


def _briefed(session: Session, picks: Sequence[tuple[int, datetime | None]],
             languages: Sequence[str]) -> list[BriefedStory]:
    """The briefs and articles of these stories, in the order given; a story without a
    brief in any of the languages is left out."""
    ids = [story_id for story_id, _ in picks]
    briefs = session.scalars(
        select(BriefRow).where(BriefRow.story_id.in_(ids), BriefRow.language.in_(languages))
    ).all()
    by_story: dict[int, list[BriefRow]] = {}
    for brief in briefs:
        by_story.setdefault(brief.story_id, []).append(brief)
    articles: dict[int, list[DigestArticle]] = {}
    for row in session.execute(
        select(ArticleRow.story_id, ArticleRow.outlet, ArticleRow.title, ArticleRow.url,
               ArticleRow.path)
        .where(ArticleRow.story_id.in_(ids)).order_by(ArticleRow.id)
    ):
        articles.setdefault(row.story_id, []).append(
            DigestArticle(row.outlet, row.title, row.url, row.path))
    stories = []
    order = list(languages)
    for story_id, published in picks:
        found = sorted(by_story.get(story_id, []), key=lambda b: order.index(b.language))
        if found:
            stories.append(BriefedStory(story_id, published, tuple(brief_of(b) for b in found),
                                        tuple(articles.get(story_id, []))))
    return stories


def briefed_since(db: Database, since: datetime, languages: Sequence[str],
                  feeds: Sequence[int], limit: int) -> list[BriefedStory]:
    """The stories of a digest covering what was briefed after `since`, in digest order."""
    with db.session() as session:
        picks = story_rows(session, since, feeds, limit)
        return _briefed(session, [(p.id, p.last_published) for p in picks], languages)


def briefed_stories(db: Database, story_ids: Sequence[int],
                    languages: Sequence[str]) -> list[BriefedStory]:
    """These stories as they are now, in the order given (a queued digest at delivery);
    a story gone, withheld since, or without a brief in the languages is left out."""
    with db.session() as session:
        rows = session.execute(
            select(StoryRow.id, StoryRow.last_published)
            .where(StoryRow.id.in_(list(story_ids)), StoryRow.withheld.is_(None))).all()
        published = {row.id: row.last_published for row in rows}
        picks = [(i, published[i]) for i in story_ids if i in published]
        return _briefed(session, picks, languages)
