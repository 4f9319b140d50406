"""Storing articles once, and grouping them into stories.

An article is stored once: the same content hash or the same canonical URL is
recognised and skipped. A new article joins the story it belongs to (see
`briefing.stories.assign`), which then needs its brief updated (`version` grows),
or starts a story of its own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from briefing.clock import utcnow
from briefing.sources.extract import Extracted
from briefing.store.models import EXTRACTED, ArticleRow, StoryRow
from briefing.stories.assign import assign
from briefing.stories.signature import Signature, signature
from briefing.text.dates import parse_published

log = logging.getLogger(__name__)
CANDIDATE_WINDOW = timedelta(days=4)
MAX_CANDIDATE_STORIES = 500


def content_hash(text: str) -> str:
    """The identity of an article's text: whitespace-insensitive SHA-256."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Stored:
    """What happened to one incoming article."""

    article_id: int | None
    story_id: int | None
    duplicate: bool


def find_duplicate(session: Session, digest: str, url: str | None) -> ArticleRow | None:
    """An article already stored with this content hash or canonical URL."""
    condition = ArticleRow.content_hash == digest
    if url:
        condition = or_(condition, ArticleRow.url == url)
    return session.scalars(select(ArticleRow).where(condition).limit(1)).first()


Members = dict[int, list[Signature]]


def url_known(session: Session, url: str) -> bool:
    """Whether an article with this canonical URL is already stored."""
    found = session.scalars(select(ArticleRow.id).where(ArticleRow.url == url).limit(1)).first()
    return found is not None


_SIGNATURES: OrderedDict[int, Signature] = OrderedDict()
_SIGNATURES_KEPT = 50_000
_SIGNATURES_LOCK = threading.Lock()


def _signatures(session: Session, article_ids: list[int]) -> dict[int, Signature]:
    """Parsed signatures of these articles; parsed once per process, then kept."""
    with _SIGNATURES_LOCK:
        known = {i: _SIGNATURES[i] for i in article_ids if i in _SIGNATURES}
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
                _SIGNATURES[article_id] = known[article_id]
        while len(_SIGNATURES) > _SIGNATURES_KEPT:
            _SIGNATURES.popitem(last=False)
    return known


def _candidates(session: Session, sig: Signature) -> Members:
    """Stories the article may belong to, with their members' signatures.

    Those published around the article's date, and those that got a source
    recently (an article without a date is compared with what is current).
    """
    now = utcnow()
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


def _join(session: Session, story_id: int | None, article: ArticleRow) -> StoryRow:
    # An article without a date counts as published when we first saw it.
    published = article.published or utcnow()
    story = session.get(StoryRow, story_id) if story_id is not None else None
    if story is None:
        story = StoryRow(title=article.title, language=article.language,
                      first_published=published, last_published=published)
        session.add(story)
    else:
        story.version += 1  # a new source: the brief must be updated
        story.first_published = min(story.first_published or published, published)
        story.last_published = max(story.last_published or published, published)
        story.updated_at = utcnow()
    session.flush()
    return story


def store_article(
    session: Session, extracted: Extracted, *, url: str | None = None,
    path: str | None = None, feed_id: int | None = None,
) -> Stored:
    """Store an extracted article once and attach it to its story."""
    digest = content_hash(extracted.text)
    existing = find_duplicate(session, digest, url)
    if existing is not None:
        return Stored(existing.id, existing.story_id, duplicate=True)
    published = parse_published(extracted.published)
    sig = signature(extracted.text, extracted.title, extracted.language, published)
    article = ArticleRow(
        content_hash=digest, url=url, path=path, title=extracted.title, outlet=extracted.outlet,
        published=published, published_text=extracted.published, language=extracted.language,
        text=extracted.text, state=EXTRACTED, signature=sig.to_json(), feed_id=feed_id,
    )
    story = _join(session, assign(sig, _candidates(session, sig)), article)
    article.story_id = story.id
    session.add(article)
    session.flush()
    log.info("stored article %s in story %s", article.id, story.id)
    return Stored(article.id, story.id, duplicate=False)
