"""Adding and removing feeds: one place for the CLI and the bot's admin commands.

A feed is added only after one real poll of its URL, so every kind of failure is caught the
same way, with the reason, before anything is stored:

- refused (BadInput, exit 2): an empty or invalid URL, one already added, an address the URL
  rules refuse (private, loopback ...), a host that does not resolve, a connection that fails
  or times out, an HTTP error status (404, 500 ...), a redirect loop, a response over
  ``service.max_feed_bytes``, data that is not RSS or Atom (an HTML page, an empty response,
  anything else), XML too broken to yield a single entry;
- accepted with a warning: a valid feed that has no entries yet (new or quiet feeds exist;
  it is polled like the others).
"""

from __future__ import annotations

from dataclasses import dataclass

from briefing.config import FetchSettings, ServiceSettings
from briefing.errors import BadInput
from briefing.sources.feeds.poll import FeedState, poll_feed
from briefing.sources.fetch import Resolver
from briefing.store import feeds as store_feeds
from briefing.store.db import Database
from briefing.store.feeds import add_feed, feed_exists


@dataclass(frozen=True)
class AddedFeed:
    """A feed just added, and what its first check found."""

    id: int
    title: str | None
    entries: int  # entries the check read (at most service.max_entries_per_poll)
    warnings: tuple[str, ...]  # accepted, but worth telling the person who added it


def add_checked_feed(db: Database, url: str, fetch: FetchSettings,
                     service: ServiceSettings | None = None, *,
                     resolver: Resolver | None = None) -> AddedFeed:
    """Check the feed at `url` (see the module's rule) and add it; BadInput when refused."""
    url = url.strip()
    if not url:
        raise BadInput("a feed URL is needed")
    if feed_exists(db, url):
        raise BadInput(f"feed already added: {url}")
    # One unconditional poll: BadInput (one line, with the reason) when unusable.
    result = poll_feed(FeedState(url), fetch, service or ServiceSettings(), resolver=resolver)
    warnings = () if result.entries else (
        f"{url} is a valid feed with no entries yet; it is polled like the others",)
    feed_id = add_feed(db, url, result.title)
    if feed_id is None:  # added meanwhile, by someone else
        raise BadInput(f"feed already added: {url}")
    return AddedFeed(feed_id, result.title, len(result.entries), warnings)


def remove_feed(db: Database, feed_id: int) -> None:
    """Remove a feed; its articles stay."""
    if not store_feeds.remove_feed(db, feed_id):
        raise BadInput(f"no feed {feed_id}")
