"""Digests and lists a reader can navigate, run by the real python-telegram-bot against the
fake Bot API: the stories a digest left out behind a button, `/latest` paged in one
message, a story's buttons (its sources, a question about it, the other language), the
placeholder of a slow summary, and quotas that say when to try again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from briefing.bot.app import channel_for
from briefing.bot.limits import Quota
from briefing.bot.replies import when_text
from briefing.render.labels import reader_date
from briefing.service.digests import schedule_digests
from briefing.service.outbox import deliver_pending
from briefing.service.subscribers import subscribe
from briefing.store.db import Database
from briefing.store.deliveries import replied_stories
from briefing.store.models import DeliveryRow
from tests.bot.conftest import ANA, BOB, Message, bot_settings, running, said
from tests.conftest import FIXTURES
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.web_server import FakeWebServer
from tests.service.test_digests import add_story


def stories(db: Database, n: int, now: datetime) -> list[int]:
    """`n` briefed stories of one source each, newest first (the order digests and lists
    show them in); their headlines are "story-I (fr)" and "story-I (en)"."""
    return [add_story(db, f"story-{i}", 1, now - timedelta(minutes=10 * (i + 1)))
            for i in range(n)]


def datas(message: Message) -> list[str]:
    """The callback data of a message's buttons, in order."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def urls(message: Message) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["url"] for row in rows for b in row if "url" in b]


async def edits(tg: FakeTelegram, n: int) -> list[dict[str, Any]]:
    await asyncio.to_thread(tg.wait_for_requests, "editMessageText", n, 10.0)
    return tg.edits


def test_latest_pages_in_one_message_that_the_arrows_edit(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    ids = stories(db, 12, now)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, "/latest 12", user_id=BOB, language_code="en")
            [page] = await said(tg, BOB)
            parse_html(page["text"])
            assert page["text"].startswith("<b>The 12 latest stories</b> · page 1 of 3")
            assert "story-0 (en)" in page["text"] and "story-5 (en)" not in page["text"]
            assert datas(page)[-1] == "page:l:1" and "page:l:0" not in datas(page)
            tg.press_button(BOB, page["message_id"], "page:l:1", user_id=BOB)
            second = (await edits(tg, 1))[-1]
            assert second["message_id"] == page["message_id"]
            assert "page 2 of 3" in second["text"] and "<b>6.</b> <b>story-5 (en)</b>" in \
                second["text"] and "story-0 (en)" not in second["text"]
            assert datas(second)[-2:] == ["page:l:0", "page:l:2"]
            tg.press_button(BOB, page["message_id"], "page:l:2", user_id=BOB)
            third = (await edits(tg, 2))[-1]
            assert "page 3 of 3" in third["text"] and "story-11 (en)" in third["text"]
            for bad in ("/latest abc", "/latest 0", "/latest 3 4"):
                tg.user_message(BOB, bad, user_id=BOB, language_code="en")
            hints = [m["text"] for m in (await said(tg, BOB, 4))[1:]]
            assert hints == ["Usage: /latest N, with N from 1 to 100 (5 without N)."] * 3
            tg.user_message(BOB, "/latest 100", user_id=BOB, language_code="en")
            everything = (await said(tg, BOB, 5))[4]  # one message, not one per story
            assert everything["text"].startswith("<b>The 12 latest stories</b> · page 1 of 3")
            await asyncio.sleep(0.3)
            assert len(tg.messages_to(BOB)) == 5
            # A reply to the list asks about any of its stories, every page included.
            assert replied_stories(db, str(BOB), str(everything["message_id"])) == ids

    asyncio.run(play())


def test_a_digest_at_its_limit_offers_the_stories_it_left_out(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    settings = settings.model_copy(update={"service": settings.service.model_copy(
        update={"digest_max_stories": 3})})
    now = datetime.now(UTC)
    ids = stories(db, 8, now)
    subscribe(db, str(BOB), now.strftime("%H:%M"), "UTC", "en")
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db) as application:
            tg.user_message(BOB, "/help", user_id=BOB, language_code="en")  # BOB reads English
            await said(tg, BOB)
            # A digest queued and delivered by the outbox: the button names its row.
            assert schedule_digests(db, now, settings) == 1
            with db.session() as session:
                row = session.scalars(select(DeliveryRow)).one()
                assert row.story_ids == ids  # the shown stories, then the left out
            report = await deliver_pending(db, channel_for(application), now, settings)
            assert report.sent == 1
            [_help, part] = tg.messages_to(BOB)
            assert part["text"].startswith(f"<b>Your briefing for {reader_date(now.date(), 'en')}")
            assert "… and 5 more stories." in part["text"] and "story-3" not in part["text"]
            assert datas(part)[-1] == f"more:d{row.id}"
            assert datas(part)[:2] == [f"story:{ids[0]}:ask", f"story:{ids[0]}:fr"]
            assert urls(part)[0] == "https://news.example/story-0/0"
            tg.press_button(BOB, part["message_id"], f"more:d{row.id}", user_id=BOB)
            listed = (await said(tg, BOB, 3))[2]
            assert listed["reply_to_message_id"] == part["message_id"]
            assert listed["text"].startswith("<b>More from your briefing: 5 stories</b>")
            assert all(f"story-{i} (en)" in listed["text"] for i in range(3, 8))
            assert not any(f"story-{i} (en)" in listed["text"] for i in range(3))

            # A digest asked for now, in French: the button points at its message.
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            [now_part] = await said(tg, ANA)
            assert now_part["text"].startswith(
                f"<b>Votre briefing du {reader_date(now.date(), 'fr')}</b>")
            assert "… et 5 autres histoires." in now_part["text"]
            assert datas(now_part)[-1] == "more:m"
            tg.press_button(ANA, now_part["message_id"], "more:m", user_id=ANA)
            more = (await said(tg, ANA, 2))[1]
            assert more["text"].startswith("<b>Suite de votre briefing : 5 histoires</b>")
            assert "story-7 (fr)" in more["text"] and "story-0 (fr)" not in more["text"]
            # The digest stays "the last message" a question without a reply is about.
            assert replied_stories(db, str(ANA), str(now_part["message_id"])) == ids[:3]

    asyncio.run(play())


def test_a_storys_buttons_ask_about_it_and_show_it_in_the_other_language(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    ids = stories(db, 2, now)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(ANA, "/lang fr", user_id=ANA, language_code="fr")
            await said(tg, ANA)
            tg.user_message(ANA, "/latest 2", user_id=ANA, language_code="fr")
            page = (await said(tg, ANA, 2))[1]
            assert datas(page) == [f"story:{ids[0]}:ask", f"story:{ids[0]}:en",
                                   f"story:{ids[1]}:ask", f"story:{ids[1]}:en"]
            assert urls(page) == ["https://news.example/story-0/0",
                                  "https://news.example/story-1/0"]

            # 🇬🇧 2: story 2's brief in English, in a message of its own under the list.
            tg.press_button(ANA, page["message_id"], f"story:{ids[1]}:en", user_id=ANA)
            english = (await said(tg, ANA, 3))[2]
            assert english["reply_to_message_id"] == page["message_id"]
            assert "<b>story-1 (en)</b>" in english["text"] and "(fr)" not in english["text"]
            assert datas(english) == [f"story:{ids[1]}:ask", f"story:{ids[1]}:fr:edit"]
            # 🇫🇷 En français: that message turns back into the French brief, in place.
            tg.press_button(ANA, english["message_id"], f"story:{ids[1]}:fr:edit", user_id=ANA)
            back = (await edits(tg, 1))[-1]
            assert back["message_id"] == english["message_id"]
            assert "<b>story-1 (fr)</b>" in back["text"]
            assert len(tg.messages_to(ANA)) == 3

            # ❓ 1: a prompt the reader answers by replying; it is about story 1 alone.
            tg.press_button(ANA, page["message_id"], f"story:{ids[0]}:ask", user_id=ANA)
            prompt = (await said(tg, ANA, 4))[3]
            await asyncio.to_thread(tg.wait_for_requests, "answerCallbackQuery", 3, 10.0)
            assert prompt["text"] == ("❓ Votre question sur « story-0 (fr) » ? Répondez à ce "
                                      "message.")
            assert prompt["reply_markup"]["force_reply"] is True
            assert replied_stories(db, str(ANA), str(prompt["message_id"])) == [ids[0]]
            assert replied_stories(db, str(ANA), None) == [ids[0]]  # and so is the next /ask
            answers = [a.get("text") for a in tg.callback_answers]
            assert "Écrivez votre question en réponse au message ci-dessous." in answers

    asyncio.run(play())


def test_a_slow_summary_shows_a_placeholder_edited_into_the_brief_or_the_error(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0

    async def play(web: FakeWebServer) -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, web.url("/slow"), user_id=BOB, language_code="en")
            [placeholder] = await said(tg, BOB)
            assert placeholder["text"] == "⏳ Reading the page…"
            asked = placeholder["reply_to_message_id"]
            assert asked is not None  # threaded under the reader's message
            brief = (await edits(tg, 1))[-1]
            assert brief["message_id"] == placeholder["message_id"]
            assert "<blockquote>" in brief["text"] and datas(brief)[0].endswith(":ask")
            parse_html(brief["text"])
            assert len(tg.messages_to(BOB)) == 1  # edited, not sent again

            tg.user_message(BOB, web.url("/slow-missing"), user_id=BOB, language_code="en")
            failed = (await said(tg, BOB, 2))[1]
            assert failed["text"] == "⏳ Reading the page…"
            assert failed["reply_to_message_id"] is not None
            error = (await edits(tg, 2))[-1]
            assert error["message_id"] == failed["message_id"]
            assert error["text"] == "That page cannot be reached (error 404)."

            # Quick answers need no placeholder, and are threaded the same way.
            tg.user_message(BOB, web.url("/missing"), user_id=BOB, language_code="en")
            quick = (await said(tg, BOB, 3))[2]
            assert quick["text"] == "That page cannot be reached (error 404)."
            assert quick["reply_to_message_id"] is not None

    with FakeWebServer() as web:
        goats = (FIXTURES / "nationalgeographic.co.uk.goats.html").read_bytes()
        web.route("/slow", goats, delay=1.5)
        web.route("/slow-missing", b"gone", status=404, delay=1.5)
        web.route("/missing", b"gone", status=404)
        asyncio.run(play(web))


def test_a_quota_says_when_to_try_again_and_a_page_asked_again_is_free(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path, summaries_per_hour=1)

    async def play(web: FakeWebServer) -> None:
        async with running(settings, db):
            tg.user_message(BOB, web.url("/goats"), user_id=BOB, language_code="en")
            first = (await said(tg, BOB))[0]
            assert "<blockquote>" in first["text"]
            tg.user_message(BOB, web.url("/martin"), user_id=BOB, language_code="en")
            refused = (await said(tg, BOB, 2))[1]
            assert refused["text"] == ("Limit reached for summaries (1 per hour): you can try "
                                       "again in 60 minutes.")
            assert refused["reply_to_message_id"] is not None
            # The goats again: briefed already, so served from the store, quota or not.
            tg.user_message(BOB, web.url("/goats"), user_id=BOB, language_code="en")
            again = (await said(tg, BOB, 3))[2]
            assert again["text"] == first["text"]

    with FakeWebServer() as web:
        web.route("/goats", (FIXTURES / "nationalgeographic.co.uk.goats.html").read_bytes())
        web.route("/martin", (FIXTURES / "lanouvellerepublique.fr.martin.html").read_bytes())
        asyncio.run(play(web))
        # ... and not fetched again: the page stored under that URL is the page.
        assert [path for path, _ in web.requests].count("/goats") == 1


def test_quota_retry_times_follow_the_window_and_the_readers_zone() -> None:
    quota = Quota(per_hour=2, per_day=3)
    start = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    for minutes in (0, 20):
        assert quota.allow(7, start + timedelta(minutes=minutes)) is None
    now = start + timedelta(minutes=30)
    assert quota.allow(7, now) == "hour"
    assert quota.retry_at(7, now) == start + timedelta(hours=1)  # the oldest use leaves
    assert quota.allow(7, start + timedelta(hours=1)) is None  # and indeed it may then
    later = start + timedelta(hours=2)
    assert quota.allow(7, later) == "day"
    assert quota.retry_at(7, later) == start + timedelta(days=1)
    assert quota.retry_at(8, later) is None  # another reader may go now
    assert Quota(0, 0).retry_at(7, later) is None  # never allowed: no time to promise

    paris = ZoneInfo("Europe/Paris")
    assert when_text(now + timedelta(minutes=12, seconds=5), now, paris, "fr") == "dans 13 minutes"
    assert when_text(now + timedelta(seconds=20), now, None, "en") == "in 1 minute"
    at = datetime(2026, 12, 2, 16, 5, tzinfo=UTC)
    assert when_text(at, now, paris, "fr") == "à 17:05 (Europe/Paris)"
    assert when_text(at + timedelta(hours=8), now, paris, "en") == \
        "tomorrow at 01:05 (Europe/Paris)"
    assert when_text(at, now, None, "en") == "in 2 h 35 min"


def test_a_digest_asked_for_now_is_for_the_readers_local_day(db: Database) -> None:
    from briefing.config import load_settings
    from briefing.service.on_demand import digest_now

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # already 3 December in Kiritimati
    stories(db, 2, now)
    subscribe(db, "77", "07:30", "Pacific/Kiritimati", "en")
    digest = digest_now(db, "77", now, load_settings(env={}), "fr")
    assert digest.day == datetime(2026, 12, 3).date()
    assert (digest.ui_language, digest.languages) == ("fr", ("en",))  # interface, briefs


def test_a_delivered_digest_shows_the_first_stories_still_readable(db: Database) -> None:
    from datetime import date

    from briefing.service.digests import load_digest
    from briefing.store.models import StoryRow

    ids = stories(db, 5, datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    with db.session() as session:
        session.get_one(StoryRow, ids[1]).withheld = "no quote survived the checks"
    digest = load_digest(db, date(2026, 12, 2), ("fr",), ids, shown=3, delivery_id=9)
    assert [i.story_id for i in digest.items] == [ids[0], ids[2], ids[3]]
    assert (digest.more, digest.delivery_id) == ((ids[4],), 9)
