"""Storing an extracted article once, in the story it belongs to.

The article's signature (names, numbers, lead terms, MinHash: `briefing.stories.signature`)
is compared with the recent stories' (`briefing.stories.assign`); it joins the best
matching story, which then needs its brief updated (`version` grows), or starts one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from briefing.metrics import ARTICLES_INGESTED
from briefing.sources.extract import Extracted
from briefing.store.articles import NewArticle, Stored, add_article
from briefing.store.db import Database
from briefing.stories.assign import assign
from briefing.stories.signature import signature
from briefing.text.dates import parse_published

log = logging.getLogger(__name__)


def content_hash(text: str) -> str:
    """The identity of an article's text: whitespace-insensitive SHA-256."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def store_article(
    db: Database, extracted: Extracted, now: datetime, *, url: str | None = None,
    path: str | None = None, feed_id: int | None = None,
) -> Stored:
    """Store an extracted article once and attach it to its story."""
    published = parse_published(extracted.published)
    sig = signature(extracted.text, extracted.title, extracted.language, published)
    new = NewArticle(
        content_hash=content_hash(extracted.text), text=extracted.text,
        language=extracted.language, title=extracted.title, outlet=extracted.outlet,
        published=published, published_text=extracted.published, signature=sig,
        url=url, path=path, feed_id=feed_id,
    )
    stored = add_article(db, new, lambda candidates: assign(sig, candidates), now)
    if not stored.duplicate:
        log.info("stored article %s in story %s", stored.article_id, stored.story_id)
        source = "feed" if feed_id is not None else "folder" if path is not None else "url"
        ARTICLES_INGESTED.labels(source=source).inc()
    return stored
