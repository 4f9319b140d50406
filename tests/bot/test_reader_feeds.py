"""Readers' own feeds and OPML files sent to the bot, through the real python-telegram-bot
on the fake Bot API, feeds served by the local web server.

The files here are the ones the bot refuses or cannot download (the fake's
`user_document`, `getFile` and file downloads, with scripted failures), and the reply an
import gets; files imported end to end are in tests/bot/test_opml_upload.py, what an import
does in tests/service/test_feeds_import.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from briefing.bot.opml import import_summary
from briefing.bot.texts import t
from briefing.clock import utcnow
from briefing.errors import FetchError
from briefing.service.feeds_admin import FailedFeed, ImportReport
from briefing.service.ingest import ingest_feeds
from briefing.sources.feeds.opml import Outline
from briefing.store.db import Database
from briefing.store.feeds import add_feed, all_feeds
from briefing.store.subscribers import NOTHING
from tests.bot.conftest import ADMIN, ANA, BOB, bot_settings, running, said, subscriber
from tests.conftest import news_feed, news_item
from tests.fakes.telegram_server import FILE_DOWNLOAD, FakeTelegram
from tests.fakes.web_server import FakeWebServer


async def ask(tg: FakeTelegram, chat: int, text: str, lang: str) -> str:
    """Send `text` as the user of `chat` and return the bot's answer."""
    before = len(tg.messages_to(chat))
    tg.user_message(chat, text, user_id=chat, language_code=lang)
    return str((await said(tg, chat, before + 1))[before]["text"])


def serve_feed(web: FakeWebServer, path: str = "/rss.xml") -> str:
    """A feed whose entry carries its article (no page to fetch); its URL."""
    item = news_item(web.base_url, "tram", datetime.now(UTC), full=True)
    web.route(path, news_feed(item), content_type="application/rss+xml")
    return web.url(path)


def feed_urls(db: Database) -> list[str]:
    return [feed.url for feed, _ in all_feeds(db)]


def test_readers_may_not_add_feeds_unless_the_setting_allows_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    with FakeWebServer() as web:
        url = serve_feed(web)

        async def play() -> list[str]:
            async with running(bot_settings(tg, tmp_path), db):
                return [await ask(tg, ANA, f"/addfeed {url}", "fr"),
                        await ask(tg, ANA, "/removefeed 1", "fr")]

        answers = asyncio.run(play())
        assert web.requests == []
    assert answers == [t("admins_only", "fr")] * 2
    assert feed_urls(db) == []


def test_a_feed_two_readers_add_is_stored_and_polled_once_and_a_reader_only_unfollows_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path, reader_feeds=True)
    with FakeWebServer() as web:
        url = serve_feed(web)

        async def play() -> list[str]:
            async with running(settings, db):
                await ask(tg, ANA, "/start", "fr")
                await ask(tg, BOB, "/start", "en")
                await ask(tg, BOB, "/unfollow 0", "en")  # Bob picks his sources: none yet
                return [await ask(tg, ANA, f"/addfeed {url}", "fr"),
                        # The same feed written another way: Bob follows Ana's feed.
                        await ask(tg, BOB, f"/addfeed {url}#latest", "en"),
                        await ask(tg, ANA, f"/addfeed {url}", "fr")]

        answers = asyncio.run(play())
        assert [path for path, _ in web.requests] == ["/rss.xml"]  # one check for both
        ingest_feeds(db, utcnow(), settings, due_only=False)
        assert [path for path, _ in web.requests] == ["/rss.xml"] * 2  # one poll for both
    assert answers == ["Flux ajouté, et vous le suivez : Le Fil.",
                       "You now follow Le Fil (another reader had added it).",
                       "Vous suivez déjà Le Fil."]
    assert feed_urls(db) == [url]
    assert subscriber(db, ANA).feeds == []  # every source still, the new feed in it
    assert subscriber(db, BOB).feeds == [1]

    async def remove() -> str:
        async with running(settings, db):
            return await ask(tg, BOB, "/removefeed 1", "en")

    assert asyncio.run(remove()).startswith("You now follow no source")  # it was his only one
    assert subscriber(db, BOB).feeds == [NOTHING]
    assert feed_urls(db) == [url]  # Ana still gets it: only admins delete feeds


def test_a_reader_at_the_limit_is_told_and_nothing_is_fetched(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    add_feed(db, "https://news.example/one.xml", "One")
    settings = bot_settings(tg, tmp_path, reader_feeds=True, reader_feeds_limit=1)
    with FakeWebServer() as web:
        url = serve_feed(web)
        web.route("/page.html", b"<html><body><p>Hello</p></body></html>")

        async def play() -> list[str]:
            async with running(settings, db):
                await ask(tg, ANA, "/start", "fr")
                await ask(tg, BOB, "/start", "en")
                every = await ask(tg, ANA, f"/addfeed {url}", "fr")
                await ask(tg, BOB, "/unfollow 1", "en")  # Bob follows the folder only
                page = await ask(tg, BOB, f"/addfeed {web.url('/page.html')}", "en")
                added = await ask(tg, BOB, f"/addfeed {url}", "en")
                named = await ask(tg, BOB, "/addfeed https://news.example/two.xml", "en")
                usage = await ask(tg, BOB, "/addfeed", "en")
                return [every, page, added, named, usage]

        answers = asyncio.run(play())
        # Ana's refusal cost no request; the page and Bob's feed one each.
        assert [path for path, _ in web.requests] == ["/page.html", "/rss.xml"]
    assert answers == [
        "Vous suivez toutes les sources, soit 1 flux ; un lecteur qui ajoute des flux peut en "
        "suivre 1 au plus. Choisissez-en d'abord moins (/sources, /unfollow).",
        "That link is not an RSS or Atom feed I can read.",
        "Feed added, and you follow it: Le Fil.",
        "You follow 1 feeds; a reader who adds feeds may follow at most 1. Unfollow some "
        "first (/sources, /unfollow).",
        t("reader_feed_usage", "en")]
    assert feed_urls(db) == ["https://news.example/one.xml", url]


# --- OPML files sent to the bot -----------------------------------------------------------


OPML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head/><body>'
        b'<outline text="Le Fil" xmlUrl="http://127.0.0.1:9/rss.xml"/></body></opml>\n')


def test_an_opml_file_is_refused_to_readers_and_one_too_large_is_not_downloaded(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path)

    async def play() -> list[str]:
        async with running(settings, db):
            await ask(tg, ANA, "/start", "fr")
            await ask(tg, ADMIN, "/help", "en")
            # The third file's getFile fails, then the fourth's download.
            tg.fail_next("getFile", 500, "Internal Server Error")
            tg.fail_next(FILE_DOWNLOAD, 500, "Internal Server Error")
            sends = [(ANA, "fr", OPML), (ADMIN, "en", b" " * (settings.fetch.max_bytes + 1)),
                     (ADMIN, "en", OPML), (ADMIN, "en", OPML)]
            for chat, lang, content in sends:
                before = len(tg.messages_to(chat))
                tg.user_document(chat, content, file_name="abonnements.opml",
                                 language_code=lang)
                await said(tg, chat, before + 1)
            return [tg.messages_to(ANA)[-1]["text"], *(m["text"]
                                                      for m in tg.messages_to(ADMIN)[-3:])]

    answers = asyncio.run(play())
    assert answers == [t("opml_admins_only", "fr"), t("opml_too_large", "en"),
                       t("opml_download_failed", "en"), t("opml_download_failed", "en")]
    # Neither the reader's file nor the one too large was asked for.
    assert [r.status for r in tg.requests_for("getFile")] == [500, 200]
    assert [r.status for r in tg.requests_for(FILE_DOWNLOAD)] == [500]
    assert feed_urls(db) == []


def test_an_import_is_told_in_one_message_in_the_senders_language() -> None:
    refused = tuple(FailedFeed(f"https://bad{n}.example/rss",
                               FetchError("cannot resolve", reason="unreachable"))
                    for n in range(12))
    report = ImportReport(added=(Outline("https://a.example/rss", "A"),),
                          present=(Outline("https://b.example/rss", "B"),), failed=refused,
                          followed=1)
    french = import_summary(report, "fr", reader=True).splitlines()
    assert french[:3] == ["Flux importés : 1 ; déjà présents : 1 ; refusés : 12.",
                          "Flux que vous suivez en plus : 1.",
                          "• https://bad0.example/rss: " + t("failure_unreachable", "fr")]
    assert len(french) == 2 + 10 + 1 and french[-1] == "… et 2 autres."
    english = import_summary(report, "en", reader=False).splitlines()
    assert english[0] == "Feeds imported: 1; already there: 1; refused: 12."
    assert english[-1] == "… and 2 more." and len(english) == 12
