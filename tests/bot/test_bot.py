"""The bot, run by the real python-telegram-bot against the fake Bot API on 127.0.0.1.

The tests play readers: /start, settings, a URL to summarise, a reply question,
a scheduled digest at the right local time, a blocked reader, a 429 storm.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from briefing.bot.app import channel_for
from briefing.bot.channel import TelegramChannel
from briefing.service.runner import Service
from briefing.store.db import Database
from briefing.store.models import DeliveryRow, FeedRow, SubscriberRow
from tests.bot.conftest import ADMIN, ANA, BOB, bot_settings, running, said, seed_store, subscriber
from tests.conftest import FIXTURES
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.web_server import FakeWebServer


def test_start_welcomes_in_french_subscribes_and_buttons_change_settings(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(ANA, "/start", user_id=ANA, first_name="Ana", language_code="fr")
            welcome = (await said(tg, ANA))[0]
            assert "Bonjour Ana" in welcome["text"] and "07:30" in welcome["text"]
            buttons = [b["callback_data"] for row in welcome["reply_markup"]["inline_keyboard"]
                       for b in row]
            assert buttons == ["set:tzok", "set:open:tz", "set:open:main"]
            # The settings open as a panel of their own; the welcome keeps its text.
            tg.press_button(ANA, welcome["message_id"], "set:open:main", user_id=ANA)
            panel = (await said(tg, ANA, 2))[1]
            tg.press_button(ANA, panel["message_id"], "set:lang:both", user_id=ANA)
            await asyncio.to_thread(tg.wait_for_requests, "editMessageText", 1, 10.0)
            assert "FR + EN" in tg.edits[-1]["text"]
            assert tg.edits[-1]["message_id"] == panel["message_id"]
            assert tg.messages_to(ANA)[0]["text"] == welcome["text"]

    asyncio.run(play())
    assert subscriber(db, ANA).languages == "both"
    assert {c["command"] for c in tg.commands} >= {"start", "help", "digest", "summary", "ask"}


def test_settings_commands_validate_their_values(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0  # this test is about answers, not pacing

    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, "/start", user_id=BOB, language_code="en")
            await said(tg, BOB)
            for command in ("/time 25:00", "/timezone Mars/Olympus", "/lang de", "/time 6:45",
                            "/timezone America/Montreal", "/lang en"):
                tg.user_message(BOB, command, user_id=BOB, language_code="en")
            replies = [m["text"] for m in await said(tg, BOB, 7)][1:]
            assert "HH:MM" in replies[0]
            assert "Europe/Paris" in replies[1]  # a helpful example
            assert "fr, en or both" in replies[2]
            assert all(r.startswith("Saved.") for r in replies[3:])

    asyncio.run(play())
    sub = subscriber(db, BOB)
    assert (sub.digest_time, sub.timezone, sub.languages) == ("06:45", "America/Montreal", "en")


def test_a_url_is_summarised_and_a_reply_is_answered_with_checked_quotes(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0

    async def play(web: FakeWebServer) -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, web.url("/goats"), user_id=BOB, language_code="en")
            brief = (await said(tg, BOB))[0]
            assert brief["parse_mode"] == "HTML" and "<blockquote>" in brief["text"]
            assert "#:~:text=" in brief["text"]  # the quote links to its spot in the page
            parse_html(brief["text"])
            tg.user_message(BOB, "What do the goats eat?", user_id=BOB, language_code="en",
                            reply_to_message_id=brief["message_id"])
            answer = (await said(tg, BOB, 2))[1]
            assert answer["reply_to_message_id"] is not None
            assert "<blockquote>" in answer["text"]  # the page says what goats eat

    with FakeWebServer() as web:
        web.route("/goats", (FIXTURES / "nationalgeographic.co.uk.goats.html").read_bytes())
        asyncio.run(play(web))


def test_private_urls_and_limits_are_enforced(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path, summaries_per_hour=1)
    settings = settings.model_copy(update={"fetch": settings.fetch.model_copy(
        update={"allow_private": False})})

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(BOB, "http://127.0.0.1:9/secret", user_id=BOB, language_code="en")
            tg.user_message(BOB, "/summary http://127.0.0.1:9/other", user_id=BOB,
                            language_code="en")
            first, second = [m["text"] for m in await said(tg, BOB, 2)]
            # The reader's words: no address, no setting name (those stay in the log).
            assert "private network" in first and "127.0.0.1" not in first
            assert "allow_private" not in first
            assert "Limit reached" in second

    asyncio.run(play())


def test_allow_list_refuses_others_politely(tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    async def play() -> None:
        async with running(bot_settings(tg, tmp_path, allow=(ANA,)), db):
            tg.user_message(BOB, "/start", user_id=BOB, language_code="en")
            assert "private" in (await said(tg, BOB))[0]["text"]

    asyncio.run(play())
    with db.session() as session:
        assert session.scalars(select(SubscriberRow)).all() == []


def test_admin_commands_are_for_admins(tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    tg.per_chat_rate = 0
    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Local news</title>'
           b"<item><title>One</title><link>http://example.org/1</link>"
           b"<description>A short teaser.</description></item></channel></rss>")

    async def play(url: str) -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, f"/addfeed {url}", user_id=BOB, language_code="en")
            assert "administrators" in (await said(tg, BOB))[0]["text"]
            tg.user_message(ADMIN, f"/addfeed {url}", user_id=ADMIN, language_code="en")
            tg.user_message(ADMIN, "/stats", user_id=ADMIN, language_code="en")
            added, stats = [m["text"] for m in await said(tg, ADMIN, 2)]
            assert "feed 1 added" in added and "subscribers:" in stats and "tokens today" in stats
            assert "“Local news”" in added and "(1 entries)" in added

    with FakeWebServer() as web:
        web.route("/rss", rss, content_type="application/rss+xml")
        asyncio.run(play(web.url("/rss")))
        url = web.url("/rss")
    with db.session() as session:
        assert session.scalars(select(FeedRow.url)).all() == [url]


def test_scheduled_digest_arrives_at_local_time_then_questions_follow(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db) as application:
            tg.user_message(ANA, "/start", user_id=ANA, language_code="fr")
            await said(tg, ANA)
            tg.user_message(ANA, "/timezone America/Montreal", user_id=ANA, language_code="fr")
            await said(tg, ANA, 2)
            local = datetime.now(ZoneInfo("America/Montreal"))
            montreal_0731 = local.replace(hour=7, minute=31, second=0, microsecond=0)
            if montreal_0731 <= local:  # the next 07:31 there, within a day of the news
                montreal_0731 += timedelta(days=1)
            service = Service(settings, db, channel_for(application),
                              clock=lambda: montreal_0731 - timedelta(hours=1))
            service.ready.set()
            await service.deliver()  # 06:31 in Montreal: not yet
            assert len(tg.messages_to(ANA)) == 2
            service.clock = lambda: montreal_0731
            await service.deliver()
            digest = (await said(tg, ANA, 3))[2:]
            assert "briefing" in digest[0]["text"].lower()
            tg.user_message(ANA, "/ask Qui est le secrétaire à la Défense ?", user_id=ANA,
                            language_code="fr")
            answer = (await said(tg, ANA, 4))[-1]["text"]
            assert "Esper" in answer or "Eper" in answer

    asyncio.run(play())
    with db.session() as session:
        assert session.scalars(select(DeliveryRow.state)).all() == ["sent"]


def test_blocked_reader_is_deactivated_and_429s_are_waited_out(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)
    now = datetime.now(UTC)
    for chat in (ANA, BOB):
        with db.session() as session:
            session.add(SubscriberRow(chat_id=str(chat), timezone="UTC",
                                   digest_time=(now - timedelta(minutes=1)).strftime("%H:%M")))
    tg.block(ANA)
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application), clock=lambda: now)
            service.ready.set()
            await service.deliver()

    asyncio.run(play())
    assert tg.messages_to(BOB) and not tg.messages_to(ANA)
    assert subscriber(db, ANA).active is False and subscriber(db, BOB).active is True
    with db.session() as session:
        states = dict(session.execute(select(DeliveryRow.subscriber_id, DeliveryRow.state)).all())
        assert sorted(states.values()) == ["failed", "sent"]


def test_feeds_following_latest_digest_and_pausing(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)
    with db.session() as session:
        session.add_all([FeedRow(url="https://a.example/rss", title="Le Fil"),
                         FeedRow(url="https://b.example/rss", title="The Wire")])
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            for command in ("/start", "/help", "/sources", "/unfollow 1", "/follow 9",
                            "/follow 1", "/latest 3", "/unsubscribe", "/subscribe"):
                tg.user_message(BOB, command, user_id=BOB, language_code="en")
                await said(tg, BOB, len(tg.messages_to(BOB)) + 1)
            texts = [m["text"] for m in tg.messages_to(BOB)]
            assert "/summary" in texts[1] and "/addfeed" not in texts[1]
            assert "1. Le Fil" in texts[2] and "2. The Wire" in texts[2]
            # Unfollowing one feed of all keeps every other source.
            assert "no longer follow Le Fil" in texts[3] and "The Wire" in texts[3]
            assert "No feed number 9" in texts[4]
            assert "now follow Le Fil" in texts[5] and "feeds all" in texts[5]
            assert "<blockquote>" in texts[6] and "000_42c6c87a2fe0d3f2.txt" in texts[6]
            assert "paused" in texts[7] and "resumed" not in texts[7]
            assert "deliveries on" in texts[8]
            tg.user_message(BOB, "/digest", user_id=BOB, language_code="en")
            digest = (await said(tg, BOB, 10))[9]["text"]
            assert "briefing" in digest.lower()
            tg.user_message(BOB, "/digest", user_id=BOB, language_code="en")
            assert "Nothing new" in (await said(tg, BOB, 11))[10]["text"]

    asyncio.run(play())


def test_refused_html_is_sent_again_as_plain_text_and_gone_chats_are_reported(
    tg: FakeTelegram,
) -> None:
    from telegram import Bot

    from briefing.bot.channel import send_html
    from briefing.service.outbox import Gone

    async def play() -> None:
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            message = await send_html(bot, BOB, "Tom & Jerry <3 <b>ok</b>")
            assert message.text == "Tom & Jerry <3 ok"
            tg.forget(ANA)
            with pytest.raises(Gone):
                await TelegramChannel(bot).send(str(ANA), "hello", key="k#0")

    asyncio.run(play())
    assert tg.messages_to(BOB)[0]["parse_mode"] is None


def test_rate_limiter_paces_each_chat_and_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from briefing.bot import channel

    limiter = channel.RateLimiter(overall=10.0, per_chat=1.0)
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        delays.append(seconds)
        await real_sleep(0)

    async def book() -> None:
        for chat in ("a", "a", "b", "c"):
            await limiter.wait(chat)

    monkeypatch.setattr("briefing.bot.channel.asyncio.sleep", record)
    asyncio.run(book())
    # The first send goes at once; the second to "a" waits a second; "b" and "c" then
    # follow at the overall pace, a tenth of a second apart.
    assert delays == [pytest.approx(1.0, abs=0.05), pytest.approx(1.1, abs=0.05),
                      pytest.approx(1.2, abs=0.05)]


def test_over_the_daily_token_budget_no_llm_call_is_made(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    from briefing.store.models import LLMCallRow
    from tests.fakes.openai_server import FakeOpenAI

    settings = bot_settings(tg, tmp_path, daily_token_budget=1000)
    seed_store(db, tmp_path, settings)
    with db.session() as session:  # today's calls have already spent the budget
        session.add(LLMCallRow(request_hash="x", model="m", prompt_tokens=900,
                            completion_tokens=200, outcome="ok"))
    tg.per_chat_rate = 0
    with FakeOpenAI() as llm:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(
            update={"base_url": llm.base_url, "model": "fake-model"})})

        async def play() -> None:
            async with running(settings, db):
                tg.user_message(BOB, "/latest 1", user_id=BOB, language_code="en")
                brief = (await said(tg, BOB))[0]
                tg.user_message(BOB, "Who denied any bias?", user_id=BOB, language_code="en",
                                reply_to_message_id=brief["message_id"])
                assert "budget" in (await said(tg, BOB, 2))[1]["text"]

        asyncio.run(play())
        assert llm.calls == 0


def test_replies_share_the_pace_so_telegram_never_says_too_many(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    # The fake enforces 1 message/s per chat: quick commands must be paced, not refused.
    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            for command in ("/start", "/help", "/settings"):
                tg.user_message(BOB, command, user_id=BOB, language_code="en")
            assert len(await said(tg, BOB, 3)) == 3

    asyncio.run(play())
    assert tg.too_many == 0


def test_a_429_holds_back_every_later_send() -> None:
    from briefing.bot.channel import RateLimiter

    limiter = RateLimiter(overall=30.0, per_chat=1.0)
    before = limiter.next_overall
    limiter.penalise(5.0)
    assert limiter.next_overall - before >= 5.0
