"""Adding and removing feeds: one place for the CLI, the bot's admin commands and the
readers who add their own feeds.

**One feed, one check.** A feed is added only after one real poll of its URL, so every kind
of failure is caught the same way, with the reason, before anything is stored:

- refused (BadInput, exit 2): an empty or invalid URL, one already added, an address the URL
  rules refuse (private, loopback ...), a host that does not resolve, a connection that fails
  or times out, an HTTP error status (404, 500 ...), a redirect loop, a response over
  ``service.max_feed_bytes``, data that is not RSS or Atom (an HTML page, an empty response,
  anything else), XML too broken to yield a single entry;
- accepted with a warning: a valid feed that has no entries yet (new or quiet feeds exist;
  it is polled like the others).

**One row per feed.** A URL matches a stored feed when they are the same address written
another way (scheme or host case, default port, fragment, tracking parameters: see
`canonical_url`), so readers typing one feed differently share one row, polled once.

**OPML imports** (`import_opml`) check URLs, they do not fetch them: each URL must pass the
URL rules (http or https, a host that resolves, to public addresses only), hosts being
looked up a few at a time, and no request is sent. An import of 200 feeds from another
reader, often many on one site, then takes seconds rather than 200 polls, and asks nothing
of the sites; the first poll (`briefing ingest`, or the service's schedule) is the feed's
real check, and a feed that fails there is listed by `feeds list` and `/stats` with its
error and polled with backoff, as any failing feed. A feed already stored is skipped and
named; a refused URL is named with its reason; the others are written in one transaction,
so an import is never half-written, and an OPML file that cannot be read (not XML, not OPML,
no feed, a DTD, too large) writes nothing.

**Readers' own feeds** (`telegram.reader_feeds`). A reader's `/addfeed URL` adds the feed
(checked as above) unless it is stored already, and makes the reader follow it; removing it
is unfollowing it (`change_follow`), never deleting a feed: only admins delete feeds. The
store keeps no owner per feed, so a feed a reader adds is a feed like the others: readers who
follow every source get it too, and `/sources` lists it. `telegram.reader_feeds_limit` bounds
the feeds a reader follows when they add one: a reader who follows every source follows
every feed, and their list is kept as "every source" (the new feed is in it), so such a
reader may add a feed only while the store holds fewer feeds than the limit; otherwise they
choose fewer sources first. An OPML file a reader sends is imported the same way, all of it
within the limit or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from briefing.config import FetchSettings, ServiceSettings
from briefing.errors import BadInput
from briefing.service.subscribers import Follow, all_sources, change_follow, followed
from briefing.sources.feeds.opml import Outline, parse_opml
from briefing.sources.feeds.poll import FeedState, poll_feed
from briefing.sources.feeds.urls import canonical_url
from briefing.sources.fetch import Resolver, check_url, shown_url
from briefing.store import feeds as store_feeds
from briefing.store.db import Database
from briefing.store.feeds import URL_CHARS, add_feed, add_feeds, feed_urls, find_feed
from briefing.store.subscribers import FOLDER, find

# Host lookups at once during an import: enough to take 200 feeds in seconds, few enough
# not to flood the resolver.
LOOKUPS = 8


@dataclass(frozen=True)
class AddedFeed:
    """A feed just added, and what its first check found."""

    id: int
    title: str | None
    entries: int  # entries the check read (at most service.max_entries_per_poll)
    warnings: tuple[str, ...]  # accepted, but worth telling the person who added it


def checked_address(url: str) -> str:
    """The URL stripped, or BadInput when it is empty or longer than the store holds (the
    URL rules come next, with the fetch or the host lookup)."""
    url = url.strip()
    if not url:
        raise BadInput("a feed URL is needed", reason="invalid_url")
    if len(url) > URL_CHARS:
        raise BadInput(f"feed URL longer than {URL_CHARS} characters: {shown_url(url)[:80]}…",
                       reason="invalid_url")
    return url


def known_feed(db: Database, url: str) -> int | None:
    """The id of the stored feed at this address, written this way or another (see the
    module's rule), or None."""
    stored = feed_urls(db)
    if url.strip() in stored:
        return stored[url.strip()]
    key = canonical_url(url)
    return next((feed_id for known, feed_id in stored.items() if canonical_url(known) == key),
                None)


def add_checked_feed(db: Database, url: str, fetch: FetchSettings,
                     service: ServiceSettings | None = None, *,
                     resolver: Resolver | None = None) -> AddedFeed:
    """Check the feed at `url` (see the module's rule) and add it; BadInput when refused."""
    url = checked_address(url)
    if known_feed(db, url) is not None:
        raise BadInput(f"feed already added: {shown_url(url)}")
    # One unconditional poll: BadInput (one line, with the reason) when unusable.
    result = poll_feed(FeedState(url), fetch, service or ServiceSettings(), resolver=resolver)
    warnings = () if result.entries else (
        f"{url} is a valid feed with no entries yet; it is polled like the others",)
    feed_id = add_feed(db, url, result.title)
    if feed_id is None:  # added meanwhile, by someone else
        raise BadInput(f"feed already added: {shown_url(url)}")
    return AddedFeed(feed_id, result.title, len(result.entries), warnings)


def remove_feed(db: Database, feed_id: int) -> None:
    """Remove a feed; its articles stay."""
    if not store_feeds.remove_feed(db, feed_id):
        raise BadInput(f"no feed {feed_id}")


# --- readers' own feeds -------------------------------------------------------------------


class FeedLimit(BadInput):
    """A reader would follow more feeds than `telegram.reader_feeds_limit` allows."""

    def __init__(self, limit: int, following: int, adding: int, every: bool) -> None:
        super().__init__(f"reader feeds: following {following} feeds and adding {adding} "
                         f"would exceed telegram.reader_feeds_limit ({limit})",
                         reason="reader_feeds_limit")
        self.limit = limit
        self.following = following  # feeds followed now (all of them when `every`)
        self.adding = adding
        self.every = every  # the reader follows every source


@dataclass(frozen=True)
class ReaderFeed:
    """A feed a reader asked for, and what it took."""

    id: int
    url: str
    title: str | None
    added: bool  # stored now; False: it was stored already (shared, not fetched again)
    # Followed now; False: followed already (who follows every source follows every feed).
    followed: bool
    entries: int = 0  # entries its check read, when it was added


def _following(db: Database, chat_id: str) -> tuple[set[int], bool]:
    """The feeds this reader follows (FOLDER aside), and whether they follow every source
    (a chat with no reader yet counts as following every source, as `change_follow` does)."""
    reader = find(db, chat_id)
    feeds = reader.feeds if reader else ()
    return followed(feeds, all_sources(db)) - {FOLDER}, not feeds


def add_reader_feed(db: Database, chat_id: str, url: str, fetch: FetchSettings,
                    service: ServiceSettings, limit: int, *,
                    resolver: Resolver | None = None) -> ReaderFeed:
    """The feed at `url` added when it is new (checked like `add_checked_feed`) and followed
    by the reader of `chat_id`, within `limit` feeds followed; BadInput (FeedLimit beyond
    the limit) when refused, with nothing changed."""
    url = checked_address(url)
    feed_id = known_feed(db, url)
    following, every = _following(db, chat_id)
    if feed_id is not None and feed_id in following:
        feed = find_feed(db, feed_id)
        return ReaderFeed(feed_id, feed.url if feed else url, feed.title if feed else None,
                          added=False, followed=False)
    if len(following) >= limit:
        raise FeedLimit(limit, len(following), 1, every)
    added, entries, title = False, 0, None
    if feed_id is None:
        result = poll_feed(FeedState(url), fetch, service, resolver=resolver)
        feed_id = add_feed(db, url, result.title)
        if feed_id is None:  # added meanwhile by someone else: theirs is the one
            feed_id = known_feed(db, url)
            assert feed_id is not None, "a feed added meanwhile is stored"
        else:
            added, entries, title = True, len(result.entries), result.title
    outcome, _ = change_follow(db, chat_id, feed_id, True)
    if outcome is Follow.UNKNOWN:  # a paused feed: not offered to readers
        raise BadInput(f"feed {feed_id} is not active", reason="refused")
    feed = find_feed(db, feed_id)
    return ReaderFeed(feed_id, feed.url if feed else url, feed.title if feed else title,
                      added=added, followed=outcome is Follow.FOLLOWED, entries=entries)


# --- OPML ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedFeed:
    """A feed of an OPML file that was refused, and why."""

    url: str
    error: BadInput


@dataclass(frozen=True)
class ImportReport:
    """What an OPML import did."""

    added: tuple[Outline, ...]  # stored now, in file order
    present: tuple[Outline, ...]  # stored already: skipped (a reader now follows them)
    failed: tuple[FailedFeed, ...]  # refused by the URL rules: not stored
    followed: int = 0  # feeds the reader follows now and did not before


def check_feed_urls(urls: Sequence[str], fetch: FetchSettings, *,
                    resolver: Resolver | None = None) -> dict[str, BadInput]:
    """The URLs the URL rules refuse, each with its error; no request is sent (see the
    module's rule), hosts are looked up LOOKUPS at a time."""
    def verdict(url: str) -> BadInput | None:
        try:
            check_url(checked_address(url), fetch, resolver=resolver)
        except BadInput as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=LOOKUPS) as pool:
        verdicts = list(pool.map(verdict, urls))
    return {url: error for url, error in zip(urls, verdicts, strict=True) if error is not None}


def import_opml(db: Database, data: bytes, label: str, fetch: FetchSettings, *,
                reader: str | None = None, limit: int | None = None,
                resolver: Resolver | None = None) -> ImportReport:
    """Import the feeds of an OPML file (see the module's rule); with `reader` (a chat id),
    that reader follows every feed of the file that is stored, within `limit` feeds
    followed. BadInput, with nothing written, for a file that cannot be read, or FeedLimit."""
    outlines = parse_opml(data, label, fetch.max_bytes)
    stored = {canonical_url(url): feed_id for url, feed_id in feed_urls(db).items()}
    fresh: dict[str, Outline] = {}
    present: list[Outline] = []
    for outline in outlines:
        key = canonical_url(outline.url)
        if key in stored:
            present.append(outline)
        else:
            fresh.setdefault(key, outline)  # one address written two ways: one feed
    refused = check_feed_urls([o.url for o in fresh.values()], fetch, resolver=resolver)
    new = [o for o in fresh.values() if o.url not in refused]
    present_ids = {stored[canonical_url(o.url)] for o in present}
    before: set[int] = set()
    if reader is not None:
        before, every = _following(db, reader)
        adding = len(new) + len(present_ids - before)
        if limit is not None and adding and len(before) + adding > limit:
            raise FeedLimit(limit, len(before), adding, every)
    ids = add_feeds(db, [(o.url, o.title) for o in new])
    added = tuple(o for o in new if o.url in ids)
    late = [o for o in new if o.url not in ids]
    if late:  # added by someone else between the check and the write: present after all
        now = {canonical_url(url): feed_id for url, feed_id in feed_urls(db).items()}
        present += late
        present_ids |= {now[canonical_url(o.url)] for o in late if canonical_url(o.url) in now}
    follows = 0
    if reader is not None:
        for feed_id in sorted(set(ids.values()) | present_ids):
            change_follow(db, reader, feed_id, True)
        follows = len(_following(db, reader)[0] - before)
    failed = tuple(FailedFeed(url, error) for url, error in refused.items())
    return ImportReport(added, tuple(present), failed, follows)
