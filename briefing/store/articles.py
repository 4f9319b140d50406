"""Queries of the articles aggregate: storing an article once, and the candidate stories
it is compared with.

An article is stored once: the same content hash or the same canonical URL is a
duplicate, also when another worker stored it a moment before (the unique constraint
decides). Which story it joins is decided by the caller (`choose`, the clustering rule of
`briefing.stories.assign`) inside the same transaction as the insert.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from briefing.store.db import Database, serialise
from briefing.store.models import EXTRACTED, ArticleRow, StoryRow
from briefing.store.stories import join_story
from briefing.stories.signature import Signature

CANDIDATE_WINDOW = timedelta(days=4)
MAX_CANDIDATE_STORIES = 500
# Story id -> the signatures of its articles.
Members = dict[int, list[Signature]]


@dataclass(frozen=True)
class NewArticle:
    """An extracted article, as it will be stored."""

    content_hash: str
    text: str
    language: str
    title: str | None
    outlet: str | None
    published: datetime | None
    published_text: str | None
    signature: Signature
    url: str | None = None
    path: str | None = None
    feed_id: int | None = None


@dataclass(frozen=True)
class Stored:
    """What happened to one incoming article."""

    article_id: int | None
    story_id: int | None
    duplicate: bool


def story_of_url(db: Database, url: str) -> int | None:
    """The story of the article stored with this canonical URL, or None when none is."""
    with db.session() as session:
        found = session.scalars(select(ArticleRow.story_id).where(ArticleRow.url == url)
                                .limit(1))
        return found.first()


def add_article(db: Database, new: NewArticle, choose: Callable[[Members], int | None],
                now: datetime) -> Stored:
    """Store `new` once and attach it to the story `choose` picks among the candidates
    (None: a story of its own); a duplicate is reported, not stored."""
    try:
        with db.session() as session:
            # One article at a time across workers: two sources of one event stored at once
            # would each see no story to join and start one of their own.
            serialise(session, "articles")
            existing = _duplicate(session, new.content_hash, new.url)
            if existing is not None:
                return Stored(existing.id, existing.story_id, duplicate=True)
            article = ArticleRow(
                content_hash=new.content_hash, url=new.url, path=new.path, title=new.title,
                outlet=new.outlet, published=new.published, published_text=new.published_text,
                language=new.language, text=new.text, state=EXTRACTED,
                signature=new.signature.to_json(), feed_id=new.feed_id, created_at=now,
            )
            story = join_story(session, choose(_candidates(session, new.signature, now)),
                               article, now)
            article.story_id = story.id
            session.add(article)
            session.flush()
            return Stored(article.id, story.id, duplicate=False)
    except IntegrityError:  # stored meanwhile by another worker: the same article
        return Stored(None, None, duplicate=True)


def _duplicate(session: Session, digest: str, url: str | None) -> ArticleRow | None:
    condition = ArticleRow.content_hash == digest
    if url:
        condition = or_(condition, ArticleRow.url == url)
    return session.scalars(select(ArticleRow).where(condition).limit(1)).first()


# (store, article id) -> its parsed signature: an id is only an article's within one store
# (the tests open many stores in one process, each numbering its articles from 1).
_SIGNATURES: OrderedDict[tuple[str, int], Signature] = OrderedDict()
_SIGNATURES_KEPT = 50_000
_SIGNATURES_LOCK = threading.Lock()  # feed workers store articles from several threads


def _signatures(session: Session, article_ids: list[int]) -> dict[int, Signature]:
    """Parsed signatures of these articles; parsed once per process, then kept."""
    store = str(session.get_bind().engine.url)
    with _SIGNATURES_LOCK:
        known = {i: _SIGNATURES[(store, i)] for i in article_ids if (store, i) in _SIGNATURES}
    missing = [i for i in article_ids if i not in known]
    for chunk_start in range(0, len(missing), 500):
        rows = session.execute(select(ArticleRow.id, ArticleRow.signature).where(
            ArticleRow.id.in_(missing[chunk_start:chunk_start + 500]))).all()
        for article_id, data in rows:
            if data:
                known[article_id] = Signature.from_json(data)
    with _SIGNATURES_LOCK:
        for article_id in missing:
            if article_id in known:
                _SIGNATURES[(store, article_id)] = known[article_id]
        while len(_SIGNATURES) > _SIGNATURES_KEPT:
            _SIGNATURES.popitem(last=False)
    return known


def _candidates(session: Session, sig: Signature, now: datetime) -> Members:
    """Stories the article may belong to, with their members' signatures.

    Those published around the article's date, and those that got a source
    recently (an article without a date is compared with what is current).
    """
    near_date = and_(StoryRow.last_published >= (sig.published or now) - CANDIDATE_WINDOW,
                     StoryRow.first_published <= (sig.published or now) + CANDIDATE_WINDOW)
    recent = StoryRow.updated_at >= now - CANDIDATE_WINDOW
    story_ids = (select(StoryRow.id).where(or_(near_date, recent))
                 .order_by(StoryRow.updated_at.desc()).limit(MAX_CANDIDATE_STORIES))
    rows = session.execute(
        select(ArticleRow.id, ArticleRow.story_id).where(ArticleRow.story_id.in_(story_ids))).all()
    parsed = _signatures(session, [article_id for article_id, _ in rows])
    stories: Members = {}
    for article_id, story_id in rows:
        if story_id is not None and article_id in parsed:
            stories.setdefault(story_id, []).append(parsed[article_id])
    return stories
