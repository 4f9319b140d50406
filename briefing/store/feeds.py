"""Queries of the feeds aggregate: the feeds polled, their conditional-GET state and
backoff.

A feed is one row per URL (the column is unique), however many readers follow it, so it is
stored and polled once; `add_feeds` writes a whole OPML import in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from briefing.store.db import Database
from briefing.store.models import ArticleRow, FeedRow

URL_CHARS = 2000  # the longest URL the feeds table holds


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


def active_feeds_among(db: Database, ids: Sequence[int], now: datetime | None = None
                       ) -> list[Feed]:
    """`active_feeds` among these ids, read again: what a worker that has just claimed them
    polls (another worker may have polled one in the meantime)."""
    query = (select(FeedRow).where(FeedRow.active, FeedRow.id.in_(list(ids)))
             .order_by(FeedRow.id))
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


def find_feed(db: Database, feed_id: int) -> Feed | None:
    """The feed with this id, or None."""
    with db.session() as session:
        row = session.get(FeedRow, feed_id)
        return _feed(row) if row else None


def feed_urls(db: Database) -> dict[str, int]:
    """Every feed's URL, as stored, with its id (for matching URLs written another way)."""
    with db.session() as session:
        return {url: feed_id for feed_id, url in session.execute(select(FeedRow.id, FeedRow.url))}


def add_feeds(db: Database, feeds: Sequence[tuple[str, str | None]]) -> dict[str, int]:
    """Add these (url, title) feeds in one transaction, all or none; the id of each one
    added, by URL. A URL already stored (also when added meanwhile) is left as it is and
    not in the answer."""
    wanted = dict(feeds)  # one row per URL, even if the caller listed one twice
    try:
        return _insert_new(db, wanted)
    except IntegrityError:
        # Another writer added one of them between the check and the insert: the whole
        # transaction was rolled back, and the second attempt sees it and skips it.
        return _insert_new(db, wanted)


def _insert_new(db: Database, wanted: dict[str, str | None]) -> dict[str, int]:
    with db.session() as session:
        present = set(session.scalars(select(FeedRow.url).where(FeedRow.url.in_(list(wanted)))))
        rows = [FeedRow(url=url, title=title[:500] if title else None)
                for url, title in wanted.items() if url not in present]
        session.add_all(rows)
        session.flush()
        return {row.url: row.id for row in rows}


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
