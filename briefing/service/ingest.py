"""Polling the feeds in the store and storing their new articles.

Feeds are polled with bounded concurrency overall and per host (polite to
servers that carry several feeds). The service polls the feeds that are due;
a feed that fails waits longer and longer before its next poll (backoff up to
a day). `briefing ingest` polls every active feed at once (still a conditional
GET). An entry that carries the article (TEASER_WORDS words or more) is stored
from the feed; one that holds only a teaser gets its page fetched and
extracted, and when that fails the teaser is kept. The feed's title and date
win over the page's: the page only fills what the feed leaves out.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from briefing.config import Settings
from briefing.errors import BadInput
from briefing.metrics import FEED_ERRORS
from briefing.service.articles import store_article
from briefing.service.fleet import Fleet
from briefing.sources.extract import Extracted, extract_text
from briefing.sources.feeds.parse import FeedEntry
from briefing.sources.feeds.poll import FeedResult, FeedState, poll_feed
from briefing.sources.load import fetch_article
from briefing.store.articles import story_of_url
from briefing.store.db import Database
from briefing.store.feeds import active_feeds, active_feeds_among, record_failure, record_poll

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(days=1)
FEED = "feed"  # the kind of a feed's lease


@dataclass
class FeedReport:
    """What one pass over the feeds did (each feed's report is added up in one thread)."""

    polled: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    # Feeds that have just started failing (their first error in a row): admins hear of
    # each once, not at every poll.
    started_failing: dict[str, str] = field(default_factory=dict)

    def add(self, other: FeedReport) -> None:
        """Add another feed's report to this one."""
        self.polled += other.polled
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.errors.update(other.errors)
        self.started_failing.update(other.started_failing)


def due_feeds(db: Database, now: datetime, *, due_only: bool = True
              ) -> list[tuple[int, FeedState]]:
    """Active feeds whose next poll time has come (every active feed when not `due_only`)."""
    return [(f.id, FeedState(f.url, f.etag, f.last_modified))
            for f in active_feeds(db, now if due_only else None)]


def _entry_article(entry: FeedEntry, settings: Settings) -> Extracted | None:
    """The article of one entry: from the feed, or from its page when the feed has a teaser."""
    published = entry.published.isoformat() if entry.published else None
    if entry.is_teaser and entry.url:
        try:
            found = fetch_article(entry.url, settings.fetch)
            # The feed states the item's title and date; the page's own are extracted (its
            # title may carry the site's name, its date may be only a day): they fill gaps.
            return Extracted(found.text, found.language, entry.title or found.title,
                             published or found.published, found.outlet, entry.url)
        except BadInput as exc:
            log.info("page of %s unavailable (%s): keeping the teaser", entry.url, exc)
    text = entry.text
    if not text or not text.strip():
        return None
    base = extract_text(text)
    return Extracted(base.text, base.language, entry.title, published, None, entry.url)


def _store_entries(db: Database, feed_id: int, result: FeedResult, now: datetime,
                   settings: Settings, report: FeedReport) -> None:
    for entry in result.entries:
        if entry.url and story_of_url(db, entry.url) is not None:
            report.duplicates += 1
            continue
        article = _entry_article(entry, settings)
        if article is None:
            continue
        stored = store_article(db, article, now, url=entry.url, feed_id=feed_id)
        report.duplicates += stored.duplicate
        report.stored += not stored.duplicate


def poll_one(db: Database, feed_id: int, state: FeedState, now: datetime,
             settings: Settings) -> FeedReport:
    """Poll one feed, store its new articles, and remember how it went."""
    report = FeedReport()
    interval = timedelta(minutes=settings.service.poll_minutes)
    try:
        result = poll_feed(state, settings.fetch, settings.service)
    except BadInput as exc:
        log.warning("feed %s: %s", state.url, exc)
        FEED_ERRORS.inc()
        report.errors[state.url] = str(exc)
        if record_failure(db, feed_id, now, str(exc), interval, MAX_BACKOFF) == 1:
            report.started_failing[state.url] = str(exc)
        return report
    report.polled += 1
    if not result.not_modified:
        _store_entries(db, feed_id, result, now, settings, report)
    record_poll(db, feed_id, now + interval, etag=result.state.etag,
                last_modified=result.state.last_modified, title=result.title)
    return report


def ingest_feeds(db: Database, now: datetime, settings: Settings, *,
                 due_only: bool = True, fleet: Fleet | None = None) -> FeedReport:
    """Poll the due feeds, a few at a time and at most a few per host.

    `due_only=False` polls every active feed whatever its next poll time (`briefing ingest`:
    one pass now); the requests stay conditional, so an unchanged feed costs a 304.
    Workers sharing the store share the feeds: each feed is claimed (`fleet`) before it
    is polled, a few at a time, so that a feed another worker holds or has just polled is
    left alone.
    """
    report = FeedReport()
    fleet = fleet or Fleet(db)
    feeds = due_feeds(db, now, due_only=due_only)
    limit = settings.service.per_host_concurrency
    hosts = {host: threading.BoundedSemaphore(limit)
             for host in {urlsplit(state.url).hostname or "" for _, state in feeds}}

    def work(item: tuple[int, FeedState]) -> FeedReport:
        feed_id, state = item
        with hosts[urlsplit(state.url).hostname or ""]:
            return poll_one(db, feed_id, state, now, settings)

    # Claimed a few rounds of the pool at a time: a worker does not hold feeds it will only
    # reach much later, which another worker could poll now.
    chunk = settings.service.feed_concurrency * 4
    # Workers return their feed's report; only this thread adds them up.
    with ThreadPoolExecutor(max_workers=settings.service.feed_concurrency) as pool:
        for start in range(0, len(feeds), chunk):
            held = fleet.take(FEED, [feed_id for feed_id, _ in feeds[start:start + chunk]])
            if not held:
                continue
            try:
                # Read again once held: another worker may have polled one meanwhile.
                fresh = active_feeds_among(db, held, now if due_only else None)
                for done in pool.map(work, [(f.id, FeedState(f.url, f.etag, f.last_modified))
                                            for f in fresh]):
                    report.add(done)
            finally:
                fleet.done(FEED, held)
    return report
