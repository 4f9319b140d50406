"""OPML imports and readers' own feeds in the service, on SQLite and PostgreSQL: one
transaction for what an import writes, a reader following what they import within their
limit, and a feed that many readers add stored once, never deleted by a reader."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from briefing.config import FetchSettings, ServiceSettings
from briefing.errors import BadInput
from briefing.service.feeds_admin import FeedLimit, add_reader_feed, import_opml
from briefing.service.subscribers import Follow, change_follow, subscribe
from briefing.sources.feeds.opml import Outline, write_opml
from briefing.store.db import Database
from briefing.store.feeds import add_feed, add_feeds, all_feeds, feed_urls
from briefing.store.subscribers import find, upsert
from tests.fakes.web_server import FakeWebServer
from tests.sources.test_opml import WHEN

FETCH = FetchSettings()
ANA, BOB = "1001", "2002"


def public(host: str, port: int) -> list[str]:
    """A resolver that places every host at a public address, with no DNS."""
    return ["93.184.216.34"]


def opml(*urls: str) -> bytes:
    return write_opml([Outline(url, f"Feed {url[-5:]}") for url in urls], "x", WHEN)


def urls(db: Database) -> list[str]:
    return [feed.url for feed, _ in all_feeds(db)]


def test_add_feeds_writes_all_or_nothing(db: Database) -> None:
    add_feed(db, "https://a.example/rss", "A")
    assert add_feeds(db, [("https://a.example/rss", "A"), ("https://b.example/rss", "B")]) == {
        "https://b.example/rss": 2}
    bad: Any = [("https://c.example/rss", "C"), (None, "no URL")]  # the row the store refuses
    with pytest.raises(IntegrityError):
        add_feeds(db, bad)
    assert urls(db) == ["https://a.example/rss", "https://b.example/rss"]


def test_an_import_that_cannot_be_read_writes_nothing(db: Database) -> None:
    add_feed(db, "https://a.example/rss", "A")
    bomb = opml("https://b.example/rss").replace(
        b"<opml", b'<!DOCTYPE opml [<!ENTITY a "a">]><opml', 1)
    with pytest.raises(BadInput, match="declares a DTD"):
        import_opml(db, bomb, "bomb.opml", FETCH, resolver=public)
    assert urls(db) == ["https://a.example/rss"]


def test_a_reader_who_follows_every_source_keeps_every_source(db: Database) -> None:
    add_feed(db, "https://a.example/rss", "A")
    subscribe(db, ANA)
    report = import_opml(db, opml("https://a.example/rss", "https://b.example/rss"),
                         "ana.opml", FETCH, reader=ANA, limit=10, resolver=public)
    assert [o.url for o in report.added] == ["https://b.example/rss"]
    assert [o.url for o in report.present] == ["https://a.example/rss"]
    assert report.followed == 1  # b, which "every source" now holds
    reader = find(db, ANA)
    assert reader is not None and reader.feeds == ()  # still every source, feeds to come too


def test_a_reader_who_picks_sources_follows_what_they_import(db: Database) -> None:
    a = add_feed(db, "https://a.example/rss", "A")
    c = add_feed(db, "https://c.example/rss", "C")
    assert a is not None and c is not None
    subscribe(db, BOB)
    upsert(db, BOB, feeds=(c,))
    report = import_opml(db, opml("https://a.example/rss", "https://b.example/rss"),
                         "bob.opml", FETCH, reader=BOB, limit=3, resolver=public)
    b = feed_urls(db)["https://b.example/rss"]
    reader = find(db, BOB)
    assert reader is not None and set(reader.feeds) == {a, b, c}
    assert report.followed == 2


def test_an_import_over_the_readers_limit_writes_nothing(db: Database) -> None:
    c = add_feed(db, "https://c.example/rss", "C")
    assert c is not None
    subscribe(db, BOB)
    upsert(db, BOB, feeds=(c,))
    with pytest.raises(FeedLimit) as caught:
        import_opml(db, opml("https://a.example/rss", "https://b.example/rss"), "bob.opml",
                    FETCH, reader=BOB, limit=2, resolver=public)
    assert (caught.value.following, caught.value.adding, caught.value.limit) == (1, 2, 2)
    assert urls(db) == ["https://c.example/rss"]
    reader = find(db, BOB)
    assert reader is not None and reader.feeds == (c,)


def rss(title: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            "<item><title>Un</title><link>https://news.example/1</link><guid>1</guid>"
            "</item></channel></rss>").encode()


def test_a_feed_readers_share_is_stored_and_checked_once_and_unfollowed_not_deleted(
    db: Database
) -> None:
    fetch = FetchSettings(allow_private=True)
    service = ServiceSettings()
    subscribe(db, ANA)
    subscribe(db, BOB)
    with FakeWebServer() as web:
        web.route("/rss.xml", rss("Le Fil"), content_type="application/rss+xml")
        url = web.url("/rss.xml")
        first = add_reader_feed(db, ANA, url, fetch, service, 5)
        # Bob writes it another way; it is the same feed, not checked again.
        second = add_reader_feed(db, BOB, url.replace("http:", "HTTP:") + "#x", fetch,
                                 service, 5)
        requests = [path for path, _ in web.requests]
    assert first.added and first.title == "Le Fil" and first.entries == 1
    assert not second.added and second.id == first.id and second.followed is False
    assert requests == ["/rss.xml"]
    assert urls(db) == [url]
    # Bob follows every source, so he followed it already; Ana picks hers and drops it.
    upsert(db, ANA, feeds=(first.id,))
    assert change_follow(db, ANA, first.id, False)[0] is Follow.NOTHING_LEFT
    assert urls(db) == [url]  # still there for Bob


def test_a_reader_at_the_limit_adds_nothing_and_fetches_nothing(db: Database) -> None:
    a = add_feed(db, "https://a.example/rss", "A")
    b = add_feed(db, "https://b.example/rss", "B")
    assert a is not None and b is not None
    subscribe(db, ANA)  # every source: both feeds
    subscribe(db, BOB)
    upsert(db, BOB, feeds=(a,))
    with FakeWebServer() as web:
        web.route("/rss.xml", rss("Le Fil"), content_type="application/rss+xml")
        fetch = FetchSettings(allow_private=True)
        with pytest.raises(FeedLimit) as every:
            add_reader_feed(db, ANA, web.url("/rss.xml"), fetch, ServiceSettings(), 2)
        assert every.value.every and every.value.following == 2
        # An existing feed takes no fetch, and Bob has room for one more.
        assert add_reader_feed(db, BOB, "https://b.example/rss", fetch, ServiceSettings(),
                               2).followed
        with pytest.raises(FeedLimit) as named:
            add_reader_feed(db, BOB, web.url("/rss.xml"), fetch, ServiceSettings(), 2)
        assert not named.value.every and named.value.following == 2
        assert web.requests == []
    assert urls(db) == ["https://a.example/rss", "https://b.example/rss"]
