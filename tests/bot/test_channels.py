"""Channels set up from a private chat (`/channels`), their posts without buttons but with a
deep link per story, and `/start story_<id>` opening a private chat about that story:
through the real python-telegram-bot on the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from briefing.bot.app import channel_for
from briefing.bot.commands import View, panel
from briefing.service.runner import Service
from briefing.store.db import Database
from briefing.store.subscribers import FOLDER, Subscriber, find, upsert
from tests.bot.conftest import ANA, BOB, Message, bot_settings, running, said, until
from tests.bot.test_questions import OUTLETS, RAIL, TRAM, add_stories, answered
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_server import DEFAULT_OWNER_ID, FakeTelegram

OWNER, EDITOR, READER = DEFAULT_OWNER_ID, 556, 557
LINK = "https://t.me/briefing_test_bot?start=story_{}"


def datas(message: Message) -> list[str]:
    """The callback data of every button of a message."""
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if "callback_data" in b]


async def target_until(db: Database, chat: str, check: Callable[[Subscriber], bool],
                       timeout: float = 10.0) -> Subscriber:
    deadline = time.monotonic() + timeout
    while True:
        target = await asyncio.to_thread(find, db, chat)
        if target is not None and check(target):
            return target
        if time.monotonic() > deadline:
            raise TimeoutError(target)
        await asyncio.sleep(0.05)


async def answer_until(tg: FakeTelegram, n: int, timeout: float = 10.0) -> dict[str, Any]:
    """The `n`th callback answer (from 1), once it came."""
    deadline = time.monotonic() + timeout
    while len(tg.callback_answers) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(tg.callback_answers)
        await asyncio.sleep(0.05)
    return tg.callback_answers[n - 1]


def last_with(check: Callable[[Message], bool]) -> Callable[[list[Message]], bool]:
    return lambda messages: bool(messages) and check(messages[-1])


def shows(message_id: int, check: Callable[[Message], bool]) -> Callable[[list[Message]], bool]:
    """Whether message `message_id` (as edited since) passes `check`."""
    return lambda messages: any(m["message_id"] == message_id and check(m) for m in messages)


# --- /channels: an administrator sets a channel up -----------------------------------------


def test_an_admins_channels_lists_the_channel_and_its_panel_sets_it_up(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    channel = tg.add_chat("channel", title="Le Fil", bot_status="left")
    tg.user_message(OWNER, "/start", user_id=OWNER)  # the owner's own settings: untouched

    async def play() -> None:
        async with running(settings, db):
            await said(tg, OWNER)
            tg.update_bot_status(channel, "administrator", by=OWNER,
                                 rights={"can_post_messages": True})
            await said(tg, OWNER, 2)  # "send /channels here"
            target = await target_until(db, str(channel), lambda t: not t.active)
            owner_before = await asyncio.to_thread(find, db, str(OWNER))
            asked = len(tg.requests_for("getChatMember"))
            tg.user_message(OWNER, "/channels", user_id=OWNER)
            listing = (await said(tg, OWNER, 3))[-1]
            assert "Le Fil" in listing["text"]
            prefix = f"chan:{target.id}:"
            assert datas(listing) == [prefix + "main", prefix + "on:list"]
            # Asked of Telegram, about the sender and about the bot itself.
            checked = {r.params.get("user_id") for r in tg.requests_for("getChatMember")[asked:]}
            assert {OWNER, tg.bot_id} <= checked

            panel_id = listing["message_id"]
            tg.press_button(OWNER, panel_id, prefix + "on:list", user_id=OWNER)
            await target_until(db, str(channel), lambda t: t.active)
            await until(tg, OWNER, shows(panel_id, lambda m: prefix + "off:list" in datas(m)))

            tg.press_button(OWNER, panel_id, prefix + "main", user_id=OWNER)
            messages = await until(tg, OWNER, shows(panel_id,
                                                    lambda m: prefix + "lang:en" in datas(m)))
            page = next(m for m in messages if m["message_id"] == panel_id)
            assert "Le Fil" in page["text"] and "chan:list" in datas(page)
            assert all(d.startswith(prefix) or d == "chan:list" for d in datas(page))
            tg.press_button(OWNER, panel_id, prefix + "lang:en", user_id=OWNER)
            await target_until(db, str(channel), lambda t: t.languages == "en")
            tg.press_button(OWNER, panel_id, prefix + "sched:live", user_id=OWNER)
            await target_until(db, str(channel), lambda t: t.schedule == "live")
            live = await until(tg, OWNER, shows(panel_id, lambda m: any(
                "✅" in b["text"] and b.get("callback_data") == prefix + "sched:live"
                for row in m["reply_markup"]["inline_keyboard"] for b in row)))
            assert live
            tg.press_button(OWNER, panel_id, prefix + "filters", user_id=OWNER)
            await until(tg, OWNER, shows(panel_id, lambda m: prefix + "filters:other" in datas(m)))
            tg.press_button(OWNER, panel_id, prefix + "filters:other", user_id=OWNER)
            await until(tg, OWNER, shows(panel_id, lambda m: datas(m) == [prefix + "filters"]))
            tg.user_message(OWNER, "+ énergie, tramway", user_id=OWNER)
            done = await target_until(db, str(channel), lambda t: bool(t.include))
            assert done.include == ("énergie", "tramway") and done.active
            # The panel stops asking and shows its main page again, with the switch.
            await until(tg, OWNER, shows(panel_id, lambda m: prefix + "off" in datas(m)))
            await until(tg, OWNER, last_with(  # the reply says what is kept
                lambda m: m["message_id"] != panel_id and "« énergie »" in m["text"]))
            tg.press_button(OWNER, panel_id, prefix + "off", user_id=OWNER)
            await target_until(db, str(channel), lambda t: not t.active)
            # Nothing of it touched the private chat's own settings, nor posted in the channel.
            assert await asyncio.to_thread(find, db, str(OWNER)) == owner_before
            assert tg.messages_to(channel) == []

    asyncio.run(play())


def test_a_non_admin_sees_no_channel_and_a_forged_or_stale_button_is_refused(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    channel = tg.add_chat("channel", title="Le Fil")
    tg.set_member(channel, EDITOR, "administrator", rights={"can_post_messages": True})
    tg.set_member(channel, READER, "member")
    target, _ = upsert(db, str(channel), kind="channel", title="Le Fil", active=False)
    ana, _ = upsert(db, str(ANA), languages="fr")

    async def play() -> None:
        async with running(settings, db) as application:
            tg.user_message(READER, "/channels", user_id=READER, language_code="fr")
            none = (await said(tg, READER))[-1]
            assert "aucune chaîne" in none["text"] and "Le Fil" not in none["text"]
            assert datas(none) == []

            # A button the reader never had, sent their way (a client can send any data).
            forged = await application.bot.send_message(
                READER, "…", reply_markup=InlineKeyboardMarkup([
                    [InlineKeyboardButton("x", callback_data=f"chan:{target.id}:on")],
                    [InlineKeyboardButton("y", callback_data=f"chan:{ana.id}:lang:en")]]))
            tg.press_button(READER, forged.message_id, f"chan:{target.id}:on", user_id=READER)
            refused = await answer_until(tg, 1)
            assert "n'administrez pas" in refused.get("text", "")
            # Another kind of target named by id: refused too, whoever presses.
            tg.press_button(READER, forged.message_id, f"chan:{ana.id}:lang:en", user_id=READER)
            assert "n'administrez pas" in (await answer_until(tg, 2)).get("text", "")

            # An editor who was an administrator, and is no longer when they tap.
            tg.user_message(EDITOR, "/channels", user_id=EDITOR, language_code="fr")
            listing = (await said(tg, EDITOR))[-1]
            assert f"chan:{target.id}:on:list" in datas(listing)
            tg.set_member(channel, EDITOR, "member")
            tg.press_button(EDITOR, listing["message_id"], f"chan:{target.id}:on:list",
                            user_id=EDITOR)
            assert "n'administrez pas" in (await answer_until(tg, 3)).get("text", "")

            after = await asyncio.to_thread(find, db, str(channel))
            assert after is not None and not after.active
            assert (await asyncio.to_thread(find, db, str(ANA))) == ana
            assert tg.messages_to(channel) == []

    asyncio.run(play())


def test_channels_in_a_group_says_to_use_a_private_chat(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    group = tg.add_chat("group", title="Rédaction")

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(group, "/channels", user_id=OWNER)
            assert "discussion privée" in (await said(tg, group))[-1]["text"]

    asyncio.run(play())


def test_every_button_of_a_channels_panel_fits_telegrams_64_bytes() -> None:
    channel = Subscriber(2_147_483_647, "-1009999999999", "x", "both", "07:00",
                         "America/Argentina/ComodRivadavia", (), True, None, kind="channel",
                         title="Une chaîne au nom vraiment très long pour un bouton")
    view = View(channel, {FOLDER: "Hors flux", 12345: "Flux"}, (FOLDER, 12345))
    for page in ("main", "time", "tz", "feeds", "type_time", "type_zone", "filters",
                 "type_filters"):
        _, keys = panel(view, "fr", page, channel=channel.id)
        data = [b.callback_data for row in keys.inline_keyboard for b in row]
        assert data and all(0 < len(str(d).encode()) <= 64 for d in data), (page, data)
        assert all(str(d).startswith(f"chan:{channel.id}:") or d == "chan:list"
                   for d in data), (page, data)


# --- posts in a channel --------------------------------------------------------------------


def test_a_channels_digest_has_no_callback_buttons_and_a_deep_link_per_story(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    ids = add_stories(db, settings)
    tg.per_chat_rate = 0
    channel = tg.add_chat("channel", title="Le Fil")
    at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for chat, kind in ((str(channel), "channel"), (str(ANA), "private")):
        upsert(db, chat, kind=kind, languages="fr", digest_time=at.strftime("%H:%M"),
               timezone="UTC", active=True, title="Le Fil" if kind == "channel" else None)

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application), clock=lambda: at)
            service.ready.set()
            await service.deliver()
            posted = await said(tg, channel)
            private = await said(tg, ANA)
            text = "\n".join(m["text"] for m in posted)
            for story in ids.values():
                assert LINK.format(story) in text
                assert LINK.format(story) not in "\n".join(m["text"] for m in private)
            assert all(m["reply_markup"] is None for m in posted)
            assert any(d.startswith("story:") for m in private for d in datas(m))
            # Quotes keep their source links; the link reads in the channel's language.
            assert "<blockquote>" in text and f'href="{OUTLETS["tram"][1]}#:~:text=' in text
            assert "❓ Poser une question" in text
            for message in posted:
                parse_html(message["text"])

    asyncio.run(play())


# --- /start story_<id> ---------------------------------------------------------------------


def test_start_with_a_story_shows_its_brief_and_a_reply_asks_about_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    ids = add_stories(db, settings)
    tg.per_chat_rate = 0
    upsert(db, str(BOB), languages="en", active=False)  # a reader known already, paused

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, f"/start story_{ids['tram']}", user_id=ANA, language_code="fr")
            messages = await said(tg, ANA, 3)
            welcome, brief, hint = messages[:3]
            assert welcome["text"].startswith("Bonjour")  # a new reader is welcomed first
            assert TRAM in brief["text"] and "story:" in " ".join(datas(brief))
            assert "répondant à ce message" in hint["text"]
            assert hint["reply_markup"]["force_reply"] is True
            reader = await asyncio.to_thread(find, db, str(ANA))
            assert reader is not None and reader.active  # subscribed, as /start does

            # A question that names no story, as a reply to the prompt: about that story.
            tg.user_message(ANA, "Combien ça va coûter ?", user_id=ANA, language_code="fr",
                            reply_to_message_id=hint["message_id"])
            answer = (await until(tg, ANA, answered))[-1]
            assert answer["plain_text"].startswith(f"À propos de : {TRAM}")

            # A reader known already: the story alone, their deliveries left paused.
            tg.user_message(BOB, f"/start story_{ids['rail']}", user_id=BOB, language_code="en")
            shown = await said(tg, BOB, 2)
            assert "Hello" not in shown[0]["text"] and "story:" in " ".join(datas(shown[0]))
            after = await asyncio.to_thread(find, db, str(BOB))
            assert after is not None and (after.active, after.languages) == (False, "en")
            # A plain question there (no reply, no word of any story) is about that story.
            tg.user_message(BOB, "And so?", user_id=BOB, language_code="en")
            about = (await until(tg, BOB, last_with(lambda m: "About:" in m["text"])))[-1]
            assert about["plain_text"].startswith(f"About: {RAIL}")

            # A story that cannot be shown: a friendly line, nothing else.
            tg.user_message(BOB, "/start story_999999", user_id=BOB, language_code="en")
            gone = (await until(tg, BOB, last_with(
                lambda m: "no longer available" in m["text"])))[-1]
            assert datas(gone) == []

    asyncio.run(play())
