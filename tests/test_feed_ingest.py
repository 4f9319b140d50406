"""Polling stored feeds: articles stored once, teasers fetched, failures backed off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from briefing.config import Settings
from briefing.service.feed_ingest import ingest_feeds
from briefing.store.db import Database
from briefing.store.models import Article, Feed, Story
from tests.conftest import SEEDS, service_settings
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
        feed = Feed(url=url)
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
        assert session.scalar(select(func.count(Story.id))) == 2  # the two AWS items are one
        glacier = session.scalars(select(Article).where(Article.url.like("%glacier"))).one()
        assert "relevés précis" in (glacier.text or "") and "Menu" not in (glacier.text or "")
        urls = set(session.scalars(select(Article.url)))
        assert f"{web.base_url}/aws-2" in urls  # canonical: tracking parameters dropped
        feed = session.get_one(Feed, feed_id)
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
        assert session.scalar(select(func.count(Article.id))) == 2


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
        first = session.get_one(Feed, feed_id)
        assert first.errors == 1 and first.next_poll_at == NOW + timedelta(minutes=30)
    assert ingest_feeds(db, NOW + timedelta(minutes=20), settings).polled == 0  # not due yet
    ingest_feeds(db, NOW + timedelta(minutes=31), settings)
    with db.session() as session:
        again = session.get_one(Feed, feed_id)
        assert again.errors == 2
        assert again.next_poll_at == NOW + timedelta(minutes=31 + 60)
