"""Queries of the feeds aggregate: the feeds polled, their conditional-GET state and
backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from briefing.store.db import Database
from briefing.store.models import ArticleRow, FeedRow


@dataclass(frozen=True)
class Feed:
    """A feed as the service and its commands see it."""

    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime | None
    errors: int
    last_error: str | None
    active: bool


def _feed(row: FeedRow) -> Feed:
    return Feed(row.id, row.url, row.title, row.etag, row.last_modified, row.next_poll_at,
                row.errors, row.last_error, row.active)


def active_feeds(db: Database, now: datetime | None = None) -> list[Feed]:
    """Active feeds in id order; with `now`, only those whose next poll time has come."""
    query = select(FeedRow).where(FeedRow.active).order_by(FeedRow.id)
    if now is not None:
        query = query.where(or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now))
    with db.session() as session:
        return [_feed(row) for row in session.scalars(query)]


def working_feeds(db: Database) -> list[Feed]:
    """Active feeds whose last poll did not fail (never polled counts as working), in id
    order: the feeds a reader is offered."""
    query = select(FeedRow).where(FeedRow.active, FeedRow.errors == 0).order_by(FeedRow.id)
    with db.session() as session:
        return [_feed(row) for row in session.scalars(query)]


def all_feeds(db: Database) -> list[tuple[Feed, int]]:
    """Every feed, with how many articles it brought, in id order."""
    with db.session() as session:
        counts = {feed_id: count for feed_id, count in session.execute(
            select(ArticleRow.feed_id, func.count(ArticleRow.id)).group_by(ArticleRow.feed_id))}
        return [(_feed(row), counts.get(row.id, 0))
                for row in session.scalars(select(FeedRow).order_by(FeedRow.id))]


def feed_exists(db: Database, url: str) -> bool:
    """Whether a feed with this URL is already added."""
    with db.session() as session:
        return session.scalars(select(FeedRow.id).where(FeedRow.url == url)).first() is not None


def add_feed(db: Database, url: str, title: str | None) -> int | None:
    """Add a feed; its id, or None when one with this URL exists (also when added meanwhile).

    No ETag or Last-Modified is kept from a check: the first poll must get the entries.
    """
    try:
        with db.session() as session:
            feed = FeedRow(url=url, title=title[:500] if title else None)
            session.add(feed)
            session.flush()
            return feed.id
    except IntegrityError:
        return None


def remove_feed(db: Database, feed_id: int) -> bool:
    """Remove a feed (its articles stay); False when there is no such feed."""
    with db.session() as session:
        feed = session.get(FeedRow, feed_id)
        if feed is None:
            return False
        session.delete(feed)
        return True


def record_poll(db: Database, feed_id: int, next_poll_at: datetime, *, etag: str | None,
                last_modified: str | None, title: str | None) -> None:
    """A successful poll: its validators and title, errors cleared, the next poll time."""
    with db.session() as session:
        feed = session.get_one(FeedRow, feed_id)
        feed.etag, feed.last_modified = etag, last_modified
        feed.title = title or feed.title
        feed.errors, feed.last_error, feed.next_poll_at = 0, None, next_poll_at


def record_failure(db: Database, feed_id: int, now: datetime, error: str,
                   interval: timedelta, max_backoff: timedelta) -> int:
    """A failed poll: one more error, the next poll backed off exponentially; returns the
    feed's errors in a row (1: it has just started failing)."""
    with db.session() as session:
        feed = session.get_one(FeedRow, feed_id)
        feed.errors += 1
        feed.last_error = error
        feed.next_poll_at = now + min(max_backoff, interval * 2 ** feed.errors)
        return feed.errors


def failing_feeds(db: Database) -> list[Feed]:
    """Active feeds whose last poll failed, with their last error, in id order."""
    with db.session() as session:
        return [_feed(row) for row in session.scalars(
            select(FeedRow).where(FeedRow.active, FeedRow.errors > 0).order_by(FeedRow.id))]
