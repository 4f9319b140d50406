"""OPML files sent to the bot and imported, end to end: the real python-telegram-bot on the
fake Bot API, which hands the bot the document (`user_document`), answers its `getFile` and
serves the file's bytes; the feeds the files list are served by the local web server, and
an import must not fetch them (it checks their addresses only)."""

from __future__ import annotations

import asyncio
from html import escape
from pathlib import Path

from briefing.bot.texts import t
from briefing.store.db import Database
from briefing.store.feeds import add_feed, all_feeds
from briefing.store.subscribers import FOLDER
from tests.bot.conftest import ADMIN, BOB, bot_settings, running, said, subscriber
from tests.fakes.telegram_server import FILE_DOWNLOAD, FakeTelegram
from tests.fakes.web_server import FakeWebServer


def feed(url: str, title: str) -> str:
    """The outline of a feed."""
    return f'<outline type="rss" text="{escape(title)}" xmlUrl="{escape(url)}"/>'


def folder(name: str, *outlines: str) -> str:
    """The outline of a folder holding these outlines."""
    return f'<outline text="{escape(name)}">{"".join(outlines)}</outline>'


def opml(*outlines: str) -> bytes:
    """An OPML 2.0 file whose body holds these outlines."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">'
            "<head><title>Abonnements</title></head>"
            f"<body>{''.join(outlines)}</body></opml>\n").encode()


async def send_file(tg: FakeTelegram, chat: int, content: bytes, lang: str,
                    name: str = "abonnements.opml") -> str:
    """Send `content` as a file from the user of `chat`; the bot's answer."""
    before = len(tg.messages_to(chat))
    tg.user_document(chat, content, file_name=name, language_code=lang)
    return str((await said(tg, chat, before + 1))[before]["text"])


def stored(db: Database) -> list[tuple[str, str | None]]:
    return [(feed.url, feed.title) for feed, _ in all_feeds(db)]


def test_an_administrators_file_adds_its_feeds_unfetched_and_the_reply_counts_them(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    with FakeWebServer() as web:
        tram, bike, known = web.url("/tram.xml"), web.url("/velo.xml"), web.url("/known.xml")
        add_feed(db, known, "Connu")
        file = opml(folder("Transports", feed(tram, "Tram"), feed(bike, "Vélo")),
                    feed(f"{known}#latest", "Connu"),  # stored already, written another way
                    feed("ftp://news.example/feed.xml", "FTP"))  # refused by the URL rules

        async def play() -> str:
            async with running(bot_settings(tg, tmp_path), db):
                return await send_file(tg, ADMIN, file, "en")

        reply = asyncio.run(play())
        assert web.requests == []  # checked, not fetched: the first poll is their check
    assert reply == "\n".join([
        t("opml_imported", "en", added=2, present=1, failed=1),
        "• ftp://news.example/feed.xml: " + t("failure_refused", "en")])
    assert stored(db) == [(known, "Connu"), (tram, "Tram"), (bike, "Vélo")]
    assert tg.messages_to(ADMIN)[-1]["disable_web_page_preview"] is True
    # The bot asked for the file once and downloaded it once, at the path it was given.
    [asked] = tg.requests_for("getFile")
    [download] = tg.requests_for(FILE_DOWNLOAD)
    assert (asked.status, download.status) == (200, 200)
    assert download.params == {"file_path": "documents/file_0.opml"}


def test_a_bad_opml_file_gets_one_clear_error_and_imports_nothing(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    with FakeWebServer() as web:
        web.route("/secret", b"top secret")
        known, tram = web.url("/known.xml"), web.url("/tram.xml")
        add_feed(db, known, "Connu")
        broken = opml(feed(tram, "Tram")).replace(b"</body>", b"</bdy>")
        external = (  # an external entity: reading it would fetch the secret
            '<?xml version="1.0"?>\n'
            f'<!DOCTYPE opml [<!ENTITY secret SYSTEM "{web.url("/secret")}">]>\n'
            '<opml version="2.0"><head/><body>'
            f'<outline text="&secret;" xmlUrl="{tram}"/></body></opml>\n').encode()
        laughs = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
        bomb = ('<?xml version="1.0"?>\n'
                f'<!DOCTYPE opml [<!ENTITY lol0 "lol">{laughs}]>\n'
                f'<opml version="2.0"><head/><body><outline text="&lol9;" xmlUrl="{tram}"/>'
                "</body></opml>\n").encode()
        rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
        sends = [(broken, "failure_opml_not_xml"), (external, "failure_opml_doctype"),
                 (bomb, "failure_opml_doctype"), (rss, "failure_opml_not_opml")]

        async def play() -> list[str]:
            async with running(bot_settings(tg, tmp_path), db):
                for content, _ in sends:
                    await send_file(tg, ADMIN, content, "fr")
                await send_file(tg, ADMIN, opml(), "fr")  # a file with no feed at all
                # Updates are handled in order: any second reply to a file would be here.
                before = len(tg.messages_to(ADMIN))
                tg.user_message(ADMIN, "/help", user_id=ADMIN, language_code="fr")
                await said(tg, ADMIN, before + 1)
                return [m["text"] for m in tg.messages_to(ADMIN)]

        answers = asyncio.run(play())
        assert web.requests == []  # no entity read, no feed fetched
    assert answers[:-1] == [t(key, "fr") for _, key in sends] + [t("failure_opml_empty", "fr")]
    assert len(answers) == len(sends) + 2  # one reply a file, then the help
    assert stored(db) == [(known, "Connu")]
    assert [r.status for r in tg.requests_for(FILE_DOWNLOAD)] == [200] * (len(sends) + 1)


def test_a_readers_file_is_followed_within_the_limit_and_refused_whole_beyond_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path, reader_feeds=True, reader_feeds_limit=3)
    with FakeWebServer() as web:
        known, other, tram, bike, bus = (web.url(f"/{name}.xml")
                                         for name in ("known", "other", "tram", "velo", "bus"))
        known_id, other_id = add_feed(db, known, "Connu"), add_feed(db, other, "Autre")
        assert known_id is not None and other_id is not None

        async def play() -> tuple[list[int], str, list[tuple[str, str | None]], list[int], str]:
            async with running(settings, db):
                tg.user_message(BOB, f"/unfollow {other_id}", user_id=BOB, language_code="en")
                await said(tg, BOB, 1)  # Bob follows the folder and one feed of two
                chosen = list(subscriber(db, BOB).feeds)
                too_many = await send_file(
                    tg, BOB, opml(feed(tram, "Tram"), feed(bike, "Vélo"), feed(bus, "Bus")), "en")
                after_refusal = stored(db), list(subscriber(db, BOB).feeds)
                within = await send_file(
                    tg, BOB, opml(feed(known, "Connu"), feed(tram, "Tram"), feed(bike, "Vélo")),
                    "en")
                return chosen, too_many, *after_refusal, within

        chosen, too_many, store_then, feeds_then, within = asyncio.run(play())
        assert web.requests == []
    assert sorted(chosen) == [FOLDER, known_id]
    # 1 feed followed and 3 in the file: over the limit of 3, so none of it.
    assert too_many == t("reader_feeds_limit_file", "en", total=4, limit=3)
    assert (store_then, feeds_then) == ([(known, "Connu"), (other, "Autre")], chosen)
    # 1 followed, 1 of the file followed already, 2 new: 3, the limit.
    assert within == "\n".join([t("opml_imported", "en", added=2, present=1, failed=0),
                                t("opml_newly_followed", "en", count=2)])
    assert stored(db) == [(known, "Connu"), (other, "Autre"), (tram, "Tram"), (bike, "Vélo")]
    tram_id, bike_id = (f.id for f, _ in all_feeds(db)[2:])
    assert sorted(subscriber(db, BOB).feeds) == [FOLDER, known_id, tram_id, bike_id]
