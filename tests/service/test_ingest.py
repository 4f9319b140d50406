"""Polling stored feeds: articles stored once, teasers fetched, failures backed off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from briefing.clock import utcnow
from briefing.config import Settings
from briefing.service.digests import schedule_digests
from briefing.service.ingest import ingest_feeds
from briefing.service.subscribers import subscribe
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database
from briefing.store.models import ArticleRow, DeliveryRow, FeedRow, StoryRow, SubscriberRow
from tests.conftest import NEWS, SEEDS, news_feed, news_item, news_page, service_settings
from tests.fakes.web_server import FakeWebServer

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEED_TEXTS = [p.read_text(encoding="utf-8") for p in SEEDS]
PAGE = ("<html><head><title>Le glacier recule</title></head><body><nav>Menu Accueil</nav>"
        "<article><h1>Le glacier recule</h1>"
        + "".join(f"<p>Des chercheurs de Grenoble ont mesuré le recul du glacier, paragraphe {i},"
                  " avec des relevés précis effectués chaque mois depuis quinze ans.</p>"
                  for i in range(6))
        + "</article></body></html>")


def rss(base: str, with_teaser: bool = True) -> bytes:
    items = [
        f"<item><title>AWS contre le Pentagone</title><link>{base}/aws-1</link>"
        f"<guid>aws-1</guid><pubDate>Mon, 02 Mar 2026 06:00:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[{SEED_TEXTS[0]}]]></content:encoded></item>",
        f"<item><title>Amazon veut entendre Trump</title><link>{base}/aws-2?utm_source=rss</link>"
        f"<guid>aws-2</guid><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[{SEED_TEXTS[1]}]]></content:encoded></item>",
    ]
    if with_teaser:
        items.append(f"<item><title>Le glacier recule</title><link>{base}/glacier</link>"
                     "<guid>glacier</guid><description>Un glacier alpin recule.</description>"
                     "</item>")
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Le Fil</title>{''.join(items)}</channel></rss>").encode()


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


def settings_for(store_url: str, tmp_path: Path) -> Settings:
    settings = service_settings(store_url, tmp_path, poll_minutes=15)
    fetch = settings.fetch.model_copy(update={"allow_private": True, "timeout": 5})
    return settings.model_copy(update={"fetch": fetch})


def add_feed(db: Database, url: str) -> int:
    with db.session() as session:
        feed = FeedRow(url=url)
        session.add(feed)
        session.flush()
        return feed.id


def test_a_feed_becomes_stories_with_teaser_pages_fetched(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    web.route("/rss", rss(web.base_url), content_type="application/rss+xml",
              headers={"ETag": '"v1"'})
    web.route("/glacier", PAGE.encode())
    feed_id = add_feed(db, web.url("/rss"))
    report = ingest_feeds(db, NOW, settings_for(store_url, tmp_path))
    assert (report.polled, report.stored, report.errors) == (1, 3, {})
    with db.session() as session:
        assert session.scalar(select(func.count(StoryRow.id))) == 2  # the two AWS items are one
        glacier = session.scalars(select(ArticleRow).where(ArticleRow.url.like("%glacier"))).one()
        assert "relevés précis" in (glacier.text or "") and "Menu" not in (glacier.text or "")
        urls = set(session.scalars(select(ArticleRow.url)))
        assert f"{web.base_url}/aws-2" in urls  # canonical: tracking parameters dropped
        feed = session.get_one(FeedRow, feed_id)
        assert feed.etag == '"v1"' and feed.next_poll_at == NOW + timedelta(minutes=15)


def test_second_poll_is_conditional_and_stores_nothing_twice(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    settings = settings_for(store_url, tmp_path)
    web.route("/rss", rss(web.base_url, with_teaser=False), content_type="application/rss+xml",
              headers={"ETag": '"v1"'})
    add_feed(db, web.url("/rss"))
    ingest_feeds(db, NOW, settings)
    later = NOW + timedelta(minutes=16)
    report = ingest_feeds(db, later, settings)
    assert report.stored == 0 and report.polled == 1
    sent = [headers for path, headers in web.requests if path == "/rss"]
    assert sent[-1].get("if-none-match") == '"v1"'
    with db.session() as session:
        assert session.scalar(select(func.count(ArticleRow.id))) == 2


def test_the_same_article_in_two_feeds_is_stored_once(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    body = rss(web.base_url, with_teaser=False)
    web.route("/a.xml", body, content_type="application/rss+xml")
    web.route("/b.xml", body, content_type="application/rss+xml")
    add_feed(db, web.url("/a.xml"))
    add_feed(db, web.url("/b.xml"))
    report = ingest_feeds(db, NOW, settings_for(store_url, tmp_path))
    assert report.stored == 2 and report.duplicates == 2


def test_a_failing_feed_backs_off(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    settings = settings_for(store_url, tmp_path)
    feed_id = add_feed(db, web.url("/missing.xml"))
    report = ingest_feeds(db, NOW, settings)
    assert "404" in report.errors[web.url("/missing.xml")]
    with db.session() as session:
        first = session.get_one(FeedRow, feed_id)
        assert first.errors == 1 and first.next_poll_at == NOW + timedelta(minutes=30)
    assert ingest_feeds(db, NOW + timedelta(minutes=20), settings).polled == 0  # not due yet
    ingest_feeds(db, NOW + timedelta(minutes=31), settings)
    with db.session() as session:
        again = session.get_one(FeedRow, feed_id)
        assert again.errors == 2
        assert again.next_poll_at == NOW + timedelta(minutes=31 + 60)


# --- Entries keep the feed's facts; only teasers fetch their page --------------------------

def page_requests(web: FakeWebServer) -> list[str]:
    return [path for path, _ in web.requests if path != "/rss"]


def test_a_full_text_entry_fetches_no_page_and_a_teaser_does(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    web.route("/rss", news_feed(news_item(web.base_url, "tram", NOW, full=True),
                                news_item(web.base_url, "glacier", NOW, full=False)),
              content_type="application/rss+xml")
    for key in NEWS:
        web.route(f"/{key}", news_page(key))
    add_feed(db, web.url("/rss"))
    report = ingest_feeds(db, NOW, settings_for(store_url, tmp_path))
    assert report.stored == 2
    assert page_requests(web) == ["/glacier"]  # the tram entry carried the article
    with db.session() as session:
        tram = session.scalars(select(ArticleRow).where(ArticleRow.url.like("%tram"))).one()
        assert "génie civil" in (tram.text or "")


def test_a_fetched_page_keeps_the_feeds_title_and_date(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    """The page names "octobre 2016" and has no date metadata; the feed dates the item."""
    published = NOW - timedelta(hours=2)
    web.route("/rss", news_feed(news_item(web.base_url, "glacier", published, full=False,
                                          title="Argentière : 38 mètres perdus")),
              content_type="application/rss+xml")
    web.route("/glacier", news_page("glacier"))
    add_feed(db, web.url("/rss"))
    ingest_feeds(db, NOW, settings_for(store_url, tmp_path))
    with db.session() as session:
        article = session.scalars(select(ArticleRow)).one()
        assert article.title == "Argentière : 38 mètres perdus"
        assert article.published == published
        assert "octobre 2016" in (article.text or "")


def test_a_page_date_fills_only_a_missing_feed_date_and_stays_a_date(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    web.route("/rss", news_feed(news_item(web.base_url, "rail", None, full=False)),
              content_type="application/rss+xml")
    web.route("/rail", news_page(
        "rail", "<meta property='article:published_time' content='2026-03-02'>"))
    add_feed(db, web.url("/rss"))
    ingest_feeds(db, NOW, settings_for(store_url, tmp_path))
    with db.session() as session:
        article = session.scalars(select(ArticleRow)).one()
        assert article.title == NEWS["rail"][0]  # the feed's, not "... | Le Fil"
        assert article.published_text == "2026-03-02"


def test_ingest_now_polls_every_active_feed_conditionally(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    settings = settings_for(store_url, tmp_path)
    web.route("/rss", rss(web.base_url, with_teaser=False), content_type="application/rss+xml",
              headers={"ETag": '"v1"'})
    web.route("/off.xml", rss(web.base_url, with_teaser=False),
              content_type="application/rss+xml")
    feed_id = add_feed(db, web.url("/rss"))
    with db.session() as session:
        session.add(FeedRow(url=web.url("/off.xml"), active=False))
    ingest_feeds(db, NOW, settings)
    soon = NOW + timedelta(minutes=1)  # the feed is not due for another 14 minutes
    assert ingest_feeds(db, soon, settings).polled == 0
    web.route("/rss", b"", status=304, content_type=None, headers={"ETag": '"v1"'})
    report = ingest_feeds(db, soon, settings, due_only=False)
    assert (report.polled, report.stored, report.errors) == (1, 0, {})
    feed_requests = [headers for path, headers in web.requests if path == "/rss"]
    assert len(feed_requests) == 2 and feed_requests[-1].get("if-none-match") == '"v1"'
    assert not [path for path, _ in web.requests if path == "/off.xml"]  # inactive: never
    with db.session() as session:
        assert session.get_one(FeedRow, feed_id).next_poll_at == soon + timedelta(minutes=15)


def test_an_item_published_before_a_digest_but_ingested_after_is_in_the_next_digest(
    db: Database, store_url: str, tmp_path: Path, web: FakeWebServer
) -> None:
    """Published 06:20, its page dated only by the day, ingested 06:32, last digest 06:27."""
    now = utcnow()
    published, last_digest = now - timedelta(minutes=12), now - timedelta(minutes=5)
    settings = settings_for(store_url, tmp_path)
    web.route("/rss", news_feed(news_item(web.base_url, "tram", published, full=False)),
              content_type="application/rss+xml")
    web.route("/tram", news_page(
        "tram", f"<meta property='article:published_time' content='{published.date()}'>"))
    add_feed(db, web.url("/rss"))
    next_digest = now + timedelta(hours=1)
    sub_id = subscribe(db, "42", next_digest.strftime("%H:%M"), "UTC", "fr")[0].id
    with db.session() as session:
        session.get_one(SubscriberRow, sub_id).last_digest_at = last_digest
    ingest_feeds(db, now, settings)
    assert summarise_pending(db, settings).summarised
    assert schedule_digests(db, next_digest, settings) == 1
    with db.session() as session:
        story_id = session.scalars(select(StoryRow.id)).one()
        assert session.scalars(select(DeliveryRow.story_ids)).one() == [story_id]
        assert session.scalars(select(ArticleRow.published)).one() == published.replace(
            microsecond=0)
