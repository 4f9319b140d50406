"""Queries of the stories aggregate: a story, its articles as the pipeline reads them, its
briefs, and the history of its briefs (`story_history`: one version per summary, with the
sources it stood on).

One rule turns stored articles into the pipeline's `Document`s (`document`), whoever reads
them: the service summarising, the bot answering a question, the CLI listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from briefing.briefs.models import Result
from briefing.sources.models import Document, Story
from briefing.store.db import Database
from briefing.store.models import (
    DELIVERED,
    SUMMARISED,
    ArticleRow,
    BriefHistoryRow,
    BriefRow,
    StoryRow,
)
from briefing.stories.novelty import Text
from briefing.text.dates import shown_published, story_published


def document(article: ArticleRow, index: int) -> Document:
    """A stored article as the pipeline's source number `index` (S1, S2, ...)."""
    return Document(
        id=f"S{index}", text=article.text or "", language=article.language or "und",
        title=article.title, url=article.url, path=article.path, outlet=article.outlet,
        published=article.published_text,
    )


def pending_story_ids(db: Database, limit: int = 1000) -> list[int]:
    """Stories whose brief is missing or older than their sources, oldest first."""
    with db.session() as session:
        query = (select(StoryRow.id).where(StoryRow.summarised_version < StoryRow.version)
                 .order_by(StoryRow.id).limit(limit))
        return list(session.scalars(query))


@dataclass(frozen=True)
class PendingStory:
    """A story whose brief is missing or older than its sources, with the arrival times
    the service's debouncing reads (`service.summaries.rebrief_due`)."""

    id: int
    briefed: bool  # it has a brief, of an older version
    first_waiting: datetime | None  # when the first source its brief lacks was stored
    last_joined: datetime | None  # when its newest source was stored


def pending_stories(db: Database) -> list[PendingStory]:
    """Every story whose brief is missing or older than its sources, oldest first, with
    when the sources its brief lacks arrived.

    No new column is needed: each article is the source that raised its story to the
    version of its rank in the story (`join_story`: the first makes version 1, each next
    one adds 1), so the sources a brief of `summarised_version` lacks are those ranked
    after it, and their `created_at` is when they were stored. Unbounded on purpose: the
    caller decides which are due, and waiting stories must not crowd out due ones; a row
    per pending story stays small even after a long outage.
    """
    waiting = StoryRow.summarised_version < StoryRow.version
    ranked = (select(ArticleRow.story_id, ArticleRow.created_at,
                     func.row_number().over(partition_by=ArticleRow.story_id,
                                            order_by=ArticleRow.id).label("rank"))
              .join(StoryRow, StoryRow.id == ArticleRow.story_id).where(waiting).subquery())
    lacking = case((ranked.c.rank > StoryRow.summarised_version, ranked.c.created_at))
    query = (select(StoryRow.id, StoryRow.summarised_version, func.min(lacking),
                    func.max(ranked.c.created_at))
             .outerjoin(ranked, ranked.c.story_id == StoryRow.id).where(waiting)
             .group_by(StoryRow.id, StoryRow.summarised_version).order_by(StoryRow.id))
    with db.session() as session:
        return [PendingStory(story_id, summarised > 0, first, last)
                for story_id, summarised, first, last in session.execute(query)]


def still_pending(db: Database, story_ids: Sequence[int]) -> set[int]:
    """The stories among these whose brief is still missing or out of date: read again by a
    worker that has just claimed them (another may have briefed one meanwhile)."""
    if not story_ids:
        return set()
    with db.session() as session:
        return set(session.scalars(select(StoryRow.id).where(
            StoryRow.id.in_(list(story_ids)), StoryRow.summarised_version < StoryRow.version)))


@dataclass(frozen=True)
class JoinedSources:
    """A briefed story's sources split at its brief: those it was made from, those that
    joined since, and the version they make (`stories.novelty` compares the two)."""

    earlier: tuple[Text, ...]
    joined: tuple[Text, ...]
    version: int


def joined_sources(db: Database, story_id: int) -> JoinedSources:
    """The sources of the story its brief has and lacks (see `pending_stories` on why the
    first `summarised_version` articles, in id order, are those the brief has)."""
    with db.session() as session:
        story = session.get_one(StoryRow, story_id)
        texts = [Text(a.text or "", a.language or "und")
                 for a in sorted(story.articles, key=lambda a: a.id)]
        cut = story.summarised_version
        return JoinedSources(tuple(texts[:cut]), tuple(texts[cut:]), story.version)


def keep_brief(db: Database, story_id: int, version: int, now: datetime) -> None:
    """The sources up to `version` brought no news: the story's briefs stand for that
    version as they are, and its history says which sources joined, with no LLM call.
    `briefed_at` stays: a digest does not show the story again for a retelling, while a
    live post gets its update (its sources line grows)."""
    with db.session() as session:
        story = session.get_one(StoryRow, story_id)
        sources = [_source_name(a) for a in sorted(story.articles, key=lambda a: a.id)]
        for brief in story.briefs:
            brief.story_version = version
        latest: dict[str, BriefHistoryRow] = {}
        for row in session.scalars(select(BriefHistoryRow).where(
                BriefHistoryRow.story_id == story_id).order_by(BriefHistoryRow.story_version,
                                                                BriefHistoryRow.id)):
            latest[row.language] = row
        for lang, before in latest.items():
            if before.story_version == version:
                continue
            session.add(BriefHistoryRow(story_id=story_id, story_version=version,
                                        language=lang, headline=before.headline,
                                        points=list(before.points), sources=sources,
                                        withheld=before.withheld, created_at=now))
        story.summarised_version = max(story.summarised_version, version)
        for article in story.articles:
            article.state = SUMMARISED if article.state != DELIVERED else article.state


def story_to_brief(db: Database, story_id: int) -> tuple[Story, int]:
    """The pipeline's view of a stored story, and the version it reflects."""
    with db.session() as session:
        story = session.get_one(StoryRow, story_id)
        docs = tuple(document(a, i) for i, a in enumerate(story.articles, start=1))
        return Story(docs), story.version


def stories_by_id(db: Database, story_ids: Sequence[int]) -> dict[int, Story]:
    """The pipeline's view of each of these stories (its articles S1, S2, ... in arrival
    order), by id; a story without articles is left out."""
    with db.session() as session:
        articles = session.scalars(select(ArticleRow).where(ArticleRow.story_id.in_(story_ids))
                                   .order_by(ArticleRow.story_id, ArticleRow.id)).all()
        grouped: dict[int, list[ArticleRow]] = {}
        for article in articles:
            if article.story_id is not None:
                grouped.setdefault(article.story_id, []).append(article)
        return {story_id: Story(tuple(document(a, i) for i, a in enumerate(rows, start=1)))
                for story_id, rows in grouped.items()}


def story_headlines(db: Database, story_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The headline of each story's briefs by language, by story id (none for a story
    not briefed yet)."""
    with db.session() as session:
        found: dict[int, dict[str, str]] = {}
        for story_id, language, headline in session.execute(
                select(BriefRow.story_id, BriefRow.language, BriefRow.headline)
                .where(BriefRow.story_id.in_(story_ids)).order_by(BriefRow.language)):
            found.setdefault(story_id, {})[language] = headline
        return found


def save_result(db: Database, story_id: int, version: int, result: Result,
                now: datetime) -> bool:
    """Store the briefs of one summary of `version` of the story, briefed at `now`; False
    when another worker saved that version (or a later one) first, and this one is dropped.

    The story's row is locked first (`FOR UPDATE` on PostgreSQL), so two workers that
    briefed one story at once (a lease lost during a stall) save in turn, not both."""
    with db.session() as session:
        story = session.get_one(StoryRow, story_id, with_for_update=True)
        if story.summarised_version >= version and story.briefs:
            return False
        existing = {b.language: b for b in story.briefs}
        for lang, brief in result.briefs.items():
            row = existing.get(lang) or BriefRow(story_id=story_id, language=lang)
            row.story_version = version
            row.headline, row.points = brief.headline, [asdict(p) for p in brief.points]
            row.original_language = brief.original_language
            row.quotes = [asdict(q) for q in brief.quotes]
            row.engine, row.model = result.engine, result.model
            row.usage, row.citations = asdict(result.usage), asdict(result.citations)
            session.add(row)
        _remember_version(session, story, version, result, now)
        # Digests cover what was briefed since a reader's last one, and skip what is withheld.
        story.briefed_at = now
        story.withheld = result.withheld
        # A source that arrived while we worked raised `version`: the story stays pending.
        story.summarised_version = max(story.summarised_version, version)
        for article in story.articles:
            article.state = SUMMARISED if article.state != DELIVERED else article.state
    return True


def _source_name(article: ArticleRow) -> str:
    return article.outlet or article.title or PurePath(article.path or article.url or "source").name


def _remember_version(session: Session, story: StoryRow, version: int, result: Result,
                      now: datetime) -> None:
    """Add this summary to the story's history (a second summary of one version replaces
    the first: the version's sources are the same)."""
    sources = [_source_name(a) for a in sorted(story.articles, key=lambda a: a.id)]
    known = {h.language: h for h in session.scalars(select(BriefHistoryRow).where(
        BriefHistoryRow.story_id == story.id, BriefHistoryRow.story_version == version))}
    for lang, brief in result.briefs.items():
        row = known.get(lang) or BriefHistoryRow(story_id=story.id, story_version=version,
                                                 language=lang)
        row.headline, row.points = brief.headline, [p.text for p in brief.points]
        row.sources, row.withheld, row.created_at = sources, result.withheld, now
        session.add(row)


@dataclass(frozen=True)
class BriefVersion:
    """One version of a story's brief, as `/story N` shows it."""

    story_version: int
    language: str
    headline: str
    points: tuple[str, ...]
    sources: tuple[str, ...]
    withheld: str | None
    made_at: datetime


def story_history(db: Database, story_id: int, language: str) -> list[BriefVersion]:
    """The versions of a story's brief in `language`, oldest first."""
    with db.session() as session:
        rows = session.scalars(select(BriefHistoryRow).where(
            BriefHistoryRow.story_id == story_id, BriefHistoryRow.language == language)
            .order_by(BriefHistoryRow.story_version, BriefHistoryRow.id))
        return [BriefVersion(r.story_version, r.language, r.headline,
                             tuple(str(p) for p in r.points), tuple(str(s) for s in r.sources),
                             r.withheld, r.created_at) for r in rows]


def withheld_reason(db: Database, story_id: int) -> str | None:
    """Why the story's brief must not reach readers, or None when it may."""
    with db.session() as session:
        return session.get_one(StoryRow, story_id).withheld


def needs_brief(db: Database, story_id: int) -> bool:
    """Whether the story has no brief yet, or one older than its sources."""
    with db.session() as session:
        story = session.get_one(StoryRow, story_id)
        return story.summarised_version < story.version


def latest_briefed(db: Database, limit: int) -> list[int]:
    """The ids of the `limit` most recently published stories with a brief that may be read
    (not withheld)."""
    with db.session() as session:
        return list(session.scalars(
            select(StoryRow.id).where(StoryRow.summarised_version > 0,
                                      StoryRow.withheld.is_(None))
            .order_by(StoryRow.last_published.desc(), StoryRow.id.desc()).limit(limit)))


def created_since(db: Database, since: datetime) -> int:
    """How many stories were created at or after `since`."""
    with db.session() as session:
        return int(session.scalar(select(func.count(StoryRow.id))
                                  .where(StoryRow.created_at >= since)) or 0)


def join_story(session: Session, story_id: int | None, article: ArticleRow,
               now: datetime) -> StoryRow:
    """Attach a new article to story `story_id` (its version grows: the brief must be
    updated), or to a new story when None. Part of `articles.add_article`'s transaction."""
    # An article without a date counts as published when we first saw it.
    published = article.published or now
    story = session.get(StoryRow, story_id) if story_id is not None else None
    if story is None:
        story = StoryRow(title=article.title, language=article.language,
                         first_published=published, last_published=published,
                         created_at=now, updated_at=now)
        session.add(story)
    else:
        story.version += 1
        story.first_published = min(story.first_published or published, published)
        story.last_published = max(story.last_published or published, published)
        story.updated_at = now
    session.flush()
    return story


@dataclass(frozen=True)
class ListedSource:
    """A story's source as `briefing stories` lists it."""

    title: str | None
    outlet: str | None
    url: str | None
    path: str | None
    published: str | None  # as shown: a date-only date stays a date


@dataclass(frozen=True)
class ListedStory:
    """A story as `briefing stories` lists it."""

    id: int
    title: str | None
    language: str | None
    headlines: dict[str, str]  # by language
    sources: tuple[ListedSource, ...]
    version: int
    summarised_version: int
    withheld: str | None  # why its brief stays out of digests, if it does
    last_published: str | None

    @property
    def state(self) -> str:
        """pending (its brief is older than its sources), withheld, or briefed."""
        if self.summarised_version < self.version:
            return "pending"
        return "withheld" if self.withheld else "briefed"


def recent_stories(db: Database, cutoff: datetime) -> list[ListedStory]:
    """The stories published, or updated (a new source, a new brief), after `cutoff`,
    newest first."""
    with db.session() as session:
        rows = session.scalars(
            select(StoryRow).where(or_(StoryRow.last_published > cutoff,
                                       StoryRow.updated_at > cutoff))
            .where(StoryRow.id.in_(select(ArticleRow.story_id)))
            .order_by(StoryRow.last_published.desc(), StoryRow.id.desc())).all()
        ids = [s.id for s in rows]
        articles = session.execute(
            select(ArticleRow.story_id, ArticleRow.title, ArticleRow.outlet, ArticleRow.url,
                   ArticleRow.path, ArticleRow.published, ArticleRow.published_text)
            .where(ArticleRow.story_id.in_(ids)).order_by(ArticleRow.id)).all()
        headlines: dict[int, dict[str, str]] = {}
        for story_id, language, headline in session.execute(
                select(BriefRow.story_id, BriefRow.language, BriefRow.headline)
                .where(BriefRow.story_id.in_(ids)).order_by(BriefRow.language)):
            headlines.setdefault(story_id, {})[language] = headline
        listed = []
        for story in rows:
            members = [a for a in articles if a.story_id == story.id]
            listed.append(ListedStory(
                story.id, story.title, story.language, headlines.get(story.id, {}),
                tuple(ListedSource(a.title, a.outlet, a.url, a.path,
                                   shown_published(a.published, a.published_text))
                      for a in members),
                story.version, story.summarised_version, story.withheld,
                story_published(story.last_published,
                                [(a.published, a.published_text) for a in members])))
        return listed


@dataclass(frozen=True)
class StoryState:
    """How far a story has come: its version (one per source), the version its brief
    covers, and when it first arrived."""

    version: int
    summarised_version: int
    created_at: datetime


def story_states(db: Database, story_ids: Sequence[int]) -> dict[int, StoryState]:
    """The state of each of these stories, by id (a story gone is left out)."""
    with db.session() as session:
        rows = session.execute(select(StoryRow.id, StoryRow.version, StoryRow.summarised_version,
                                      StoryRow.created_at)
                               .where(StoryRow.id.in_(list(story_ids))))
        return {r.id: StoryState(r.version, r.summarised_version, r.created_at) for r in rows}



def any_unbriefed(db: Database) -> bool:
    """Whether some story has no brief yet (a digest queued now would miss it)."""
    with db.session() as session:
        return session.scalar(select(StoryRow.id).where(StoryRow.summarised_version == 0)
                              .limit(1)) is not None
