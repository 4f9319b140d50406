"""Polling RSS and Atom feeds: one conditional GET, then clean, de-duplicated entries.

A pure module: it remembers nothing between polls. The caller stores the :class:`FeedState`
that :func:`poll_feed` hands back (its ETag and Last-Modified) and passes it to the next poll,
which then costs the server a 304 when nothing changed.

All HTTP goes through :func:`briefing.sources.fetch.fetch_url`, so the address checks, the
redirect limit, the timeouts and a size cap (``service.max_feed_bytes``) apply to feeds too.
Parsing is feedparser's (:mod:`briefing.sources.feeds.parse`); what comes out of it is plain
text (:mod:`briefing.sources.feeds.text`), absolute canonical URLs
(:mod:`briefing.sources.feeds.urls`) and timezone-aware UTC dates. Their public names are
re-exported here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from briefing.config import FetchSettings, ServiceSettings
from briefing.sources.feeds.parse import FeedEntry, parse_feed
from briefing.sources.fetch import Fetched, Resolver, fetch_url

log = logging.getLogger(__name__)

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/x-rss+xml",
        "application/x-atom+xml",
    }
)
"""Media types a feed is served as."""

# Many servers label feeds as a page or as text; feedparser then decides (a missing
# Content-Type is always accepted by fetch_url).
_ACCEPTED = FEED_TYPES | {"text/html", "text/plain"}
_ACCEPT_HEADER = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a feed between polls."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedResult:
    """What one poll found."""

    state: FeedState  # to store for the next poll
    title: str | None
    entries: list[FeedEntry]  # unique guids, newest first, at most max_entries_per_poll
    not_modified: bool  # the server answered 304: no entries


def poll_feed(
    state: FeedState,
    fetch: FetchSettings,
    service: ServiceSettings,
    *,
    resolver: Resolver | None = None,
) -> FeedResult:
    """Fetch the feed at ``state.url`` (conditionally) and parse it.

    Sends If-None-Match / If-Modified-Since from the state; a 304 gives ``not_modified`` and
    no entries. Raises FetchError (one line) when the feed cannot be fetched (refused address,
    timeout, redirect loop, HTTP error, more than ``service.max_feed_bytes``) or is not a
    usable feed (an HTML page, XML too broken to yield any entry).
    """
    fetched = fetch_url(
        state.url,
        fetch,
        resolver=resolver,
        accept=_ACCEPTED,
        max_bytes=service.max_feed_bytes,
        headers=_request_headers(state),
    )
    if fetched.status == 304:
        log.info("feed %s: not modified", fetched.final_url)
        return FeedResult(_next_state(state, fetched), None, [], not_modified=True)
    title, entries = parse_feed(
        fetched.content,
        fetched.final_url,
        service.max_entries_per_poll,
        content_type=fetched.headers.get("content-type"),
    )
    log.info("feed %s: %d entries", fetched.final_url, len(entries))
    return FeedResult(_next_state(state, fetched), title, entries, not_modified=False)


# --- the request ---------------------------------------------------------------------------


def _request_headers(state: FeedState) -> dict[str, str]:
    """Accept, plus the validators of the last poll (a conditional GET)."""
    headers = {"Accept": _ACCEPT_HEADER}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _next_state(state: FeedState, fetched: Fetched) -> FeedState:
    """The state to store: this answer's validators (a 304 may omit them: keep the old ones)."""
    etag = _validator(fetched.headers.get("etag"))
    last_modified = _validator(fetched.headers.get("last-modified"))
    if fetched.status == 304:
        etag = etag or state.etag
        last_modified = last_modified or state.last_modified
    return FeedState(state.url, etag, last_modified)


def _validator(value: str | None) -> str | None:
    """An ETag or Last-Modified value fit to send back in a header, else None."""
    value = (value or "").strip()
    if not value or len(value) > 1024 or not value.isascii() or not value.isprintable():
        return None
    return value
