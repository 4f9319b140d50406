"""Store-side work for the bot's content commands (blocking: run in threads)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from briefing.briefs.engines.select import select_engine
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.render.labels import briefs_once
from briefing.render.telegram import Block, brief_lines, sources_line
from briefing.service.articles import store_article
from briefing.service.digests import DigestItem, compose, languages_of
from briefing.service.summaries import summarise_story
from briefing.sources.load import fetch_article
from briefing.sources.models import Document, Story
from briefing.store.db import Database
from briefing.store.llm_calls import CallLog
from briefing.store.models import ArticleRow, SentMessageRow, StoryRow, SubscriberRow
from briefing.store.stories import needs_brief


def label(article: ArticleRow) -> str:
    """How a reader recognises an article: outlet, else title, else file name."""
    return article.outlet or article.title or (Path(article.path).name if article.path
                                                 else "source")


def _sources(articles: list[ArticleRow]) -> dict[str, dict[str, str | None]]:
    return {f"S{i}": {"outlet": label(a), "title": a.title, "url": a.url}
            for i, a in enumerate(articles, start=1)}


def story_blocks(db: Database, story_ids: list[int], languages: tuple[str, ...]) -> list[Block]:
    """Each story's briefs in the reader's languages, as message blocks."""
    blocks: list[Block] = []
    with db.session() as session:
        for story_id in story_ids:
            story = session.get(StoryRow, story_id)
            if story is None:
                continue
            briefs = {b.language: b for b in story.briefs}
            sources = _sources(list(story.articles))
            wanted = [{"language": lang, "headline": b.headline, "points": b.points,
                       "quotes": b.quotes, "original_language": b.original_language}
                      for lang in languages if (b := briefs.get(lang)) is not None]
            lines: list[str] = []
            for brief, _original in briefs_once(wanted):
                lines += brief_lines(brief, sources)
            links = [(label(a), a.url) for a in story.articles]
            lines.append(sources_line(links, languages[0]))
            blocks.append((lines, [story_id]))
    return blocks


def record_sent(db: Database, chat_id: str, message_id: int, story_ids: list[int]) -> None:
    """Remember what a message is about, so a reply to it can be answered."""
    with db.session() as session:
        session.add(SentMessageRow(chat_id=chat_id, message_id=str(message_id),
                                story_ids=list(story_ids)))


def replied_stories(db: Database, chat_id: str, message_id: int | None) -> list[int]:
    """The stories of the message replied to, or of the last brief sent to this chat."""
    with db.session() as session:
        query = select(SentMessageRow).where(SentMessageRow.chat_id == chat_id)
        if message_id is not None:
            query = query.where(SentMessageRow.message_id == str(message_id))
        rows = session.scalars(query.order_by(SentMessageRow.id.desc()).limit(20)).all()
        return next((list(r.story_ids) for r in rows if r.story_ids), [])


def load_stories(db: Database, story_ids: list[int]) -> Story:
    """The sources of these stories as one pipeline story (ids S1, S2, ...)."""
    with db.session() as session:
        articles = session.scalars(select(ArticleRow).where(ArticleRow.story_id.in_(story_ids))
                                   .order_by(ArticleRow.story_id, ArticleRow.id)).all()
        docs = tuple(Document(
            id=f"S{i}", text=a.text or "", language=a.language or "und", title=a.title,
            url=a.url, outlet=a.outlet, published=a.published_text)
            for i, a in enumerate(articles, start=1))
    return Story(docs)


def summarise_url(db: Database, url: str, settings: Settings, now: datetime) -> int:
    """Fetch, store and summarise a page; returns its story id (reused when known)."""
    extracted = fetch_article(url, settings.fetch)
    stored = store_article(db, extracted, now, url=extracted.url)
    if stored.story_id is None:
        raise ExtractionError(f"{url}: could not be stored")
    if needs_brief(db, stored.story_id):
        engine = select_engine(settings, cache=CallLog(db))
        summarise_story(db, stored.story_id, engine, settings, fallback=True,
                        clock=lambda: now)
    return stored.story_id


def reader_languages(db: Database, chat_id: str, default: str) -> tuple[str, ...]:
    """The brief languages of a reader (their setting, else their interface language)."""
    with db.session() as session:
        sub = session.scalars(select(SubscriberRow).where(SubscriberRow.chat_id == chat_id)).first()
        return languages_of(sub.languages if sub else default)


def digest_now(db: Database, chat_id: str, now: datetime, settings: Settings,
               default: str) -> tuple[list[DigestItem], tuple[str, ...]]:
    """A digest for this reader now: what is new since their last one (or a day)."""
    with db.session() as session:
        sub = session.scalars(select(SubscriberRow).where(SubscriberRow.chat_id == chat_id)).first()
        since = (sub.last_digest_at if sub and sub.last_digest_at else now - timedelta(days=1))
        languages = languages_of(sub.languages if sub else default)
        items = compose(session, since, languages, list(sub.feeds or []) if sub else [],
                        settings.service.digest_max_stories)
        if sub is not None and items:
            sub.last_digest_at = now
    return items, languages


def latest_story_ids(db: Database, n: int) -> list[int]:
    """The `n` most recent summarised stories."""
    with db.session() as session:
        return list(session.scalars(
            select(StoryRow.id).where(StoryRow.summarised_version > 0)
            .order_by(StoryRow.last_published.desc(), StoryRow.id.desc()).limit(n)))
