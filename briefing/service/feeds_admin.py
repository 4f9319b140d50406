"""Adding and removing feeds: one place for the CLI and the bot's admin commands."""

from __future__ import annotations

from sqlalchemy import select

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.sources.fetch import check_url
from briefing.store.db import Database
from briefing.store.models import Feed


def add_feed(db: Database, url: str, fetch: FetchSettings) -> int:
    """Add a feed after checking its address (the URL rules apply); returns its id."""
    if not url:
        raise BadInput("a feed URL is needed")
    check_url(url, fetch)
    with db.session() as session:
        if session.scalars(select(Feed).where(Feed.url == url)).first():
            raise BadInput(f"feed already added: {url}")
        feed = Feed(url=url)
        session.add(feed)
        session.flush()
        return feed.id


def remove_feed(db: Database, feed_id: int) -> None:
    """Remove a feed; its articles stay."""
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise BadInput(f"no feed {feed_id}")
        session.delete(feed)
