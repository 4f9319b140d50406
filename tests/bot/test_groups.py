"""The bot in groups, forum topics and channels, through the real python-telegram-bot on
the fake Bot API: added and removed, administrators only for settings, members' chatter
ignored, a topic's digest in its thread, a group that becomes a supergroup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from briefing.bot.app import channel_for
from briefing.service.runner import Service
from briefing.store.db import Database
from briefing.store.subscribers import Subscriber, address, find, upsert
from tests.bot.conftest import bot_settings, running, seed_store
from tests.fakes.telegram_server import DEFAULT_OWNER_ID, FakeTelegram

OWNER, MEMBER = DEFAULT_OWNER_ID, 555


async def target_until(db: Database, chat: str, check: Callable[[Subscriber | None], bool],
                       timeout: float = 10.0) -> Subscriber | None:
    deadline = time.monotonic() + timeout
    while True:
        target = await asyncio.to_thread(find, db, chat)
        if check(target):
            return target
        if time.monotonic() > deadline:
            raise TimeoutError(target)
        await asyncio.sleep(0.05)


def test_a_group_adds_the_bot_its_admins_set_it_up_and_removing_it_stops_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    tg.privacy_mode = False  # the bot would hear every message: it must still ignore chatter
    group = tg.add_chat("group", title="Rédaction", bot_status="left")

    async def play() -> None:
        async with running(settings, db):
            tg.update_bot_status(group, "member", by=OWNER)
            welcome = (await asyncio.to_thread(tg.wait_for_messages, group, 1, 10.0))[0]
            assert "/settings" in welcome["text"]
            target = await target_until(db, str(group), lambda t: t is not None)
            assert target is not None and (target.kind, target.title, target.active) == (
                "group", "Rédaction", True)
            tg.user_message(group, "/lang fr", user_id=MEMBER)
            refused = (await asyncio.to_thread(tg.wait_for_messages, group, 2, 10.0))[-1]
            assert "Seuls les administrateurs" in refused["text"]
            tg.user_message(group, "Quelqu'un a vu le match hier soir ?", user_id=MEMBER)
            tg.user_message(group, "/lang fr", user_id=OWNER)
            changed = (await asyncio.to_thread(tg.wait_for_messages, group, 3, 10.0))[-1]
            assert "Seuls" not in changed["text"]  # the chatter got no reply before it
            await target_until(db, str(group), lambda t: t is not None and t.languages == "fr")
            tg.update_bot_status(group, "kicked", by=OWNER)
            await target_until(db, str(group), lambda t: t is not None and not t.active)

    asyncio.run(play())


def test_a_forum_topic_gets_its_digest_in_its_thread(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)
    tg.per_chat_rate = 0
    forum = tg.add_chat("supergroup", title="Desk", is_forum=True)
    economy = tg.create_topic(forum, "Économie")
    at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    upsert(db, address(forum, economy), kind="supergroup", languages="fr",
           digest_time=at.strftime("%H:%M"), timezone="UTC")

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application), clock=lambda: at)
            service.ready.set()
            await service.deliver()
            posted = await asyncio.to_thread(tg.wait_for_messages_in, forum, economy, 1, 10.0)
            assert "Amazon" in " ".join(m["text"] for m in posted)
            assert tg.messages_in(forum, None) == []  # nothing in the General topic

    asyncio.run(play())


def test_a_group_that_becomes_a_supergroup_keeps_its_settings(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    group = tg.add_chat("group", title="Rédaction")
    upsert(db, str(group), kind="group", include=("énergie",))

    async def play() -> None:
        async with running(settings, db):
            new = tg.migrate_group(group)
            moved = await target_until(db, str(new), lambda t: t is not None)
            assert moved is not None and (moved.kind, moved.include) == (
                "supergroup", ("énergie",))
            assert await asyncio.to_thread(find, db, str(group)) is None

    asyncio.run(play())


def test_a_channel_waits_to_be_set_up_and_its_admin_is_told_privately(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    channel = tg.add_chat("channel", title="Le Fil", bot_status="left")
    tg.user_message(OWNER, "/start", user_id=OWNER)  # the owner has talked to the bot

    async def play() -> None:
        async with running(settings, db):
            before = len(await asyncio.to_thread(tg.wait_for_messages, OWNER, 1, 10.0))
            tg.update_bot_status(channel, "administrator", by=OWNER,
                                 rights={"can_post_messages": True})
            told = await asyncio.to_thread(tg.wait_for_messages, OWNER, before + 1, 10.0)
            assert "Le Fil" in told[-1]["text"] and "/channels" in told[-1]["text"]
            target = await target_until(db, str(channel), lambda t: t is not None)
            assert target is not None and target.kind == "channel" and not target.active
            assert tg.messages_to(channel) == []  # nothing posted nobody asked for

    asyncio.run(play())


def test_a_members_tap_on_the_groups_settings_panel_is_refused(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    group = tg.add_chat("group", title="Rédaction")
    upsert(db, str(group), kind="group", languages="both")

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(group, "/settings", user_id=OWNER)
            panel = (await asyncio.to_thread(tg.wait_for_messages, group, 1, 10.0))[-1]
            data = next(b["callback_data"] for row in panel["reply_markup"]["inline_keyboard"]
                        for b in row if b.get("callback_data", "").startswith("set:"))
            tg.press_button(group, panel["message_id"], data, user_id=MEMBER)
            deadline = time.monotonic() + 10
            while not tg.callback_answers and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert "Seuls les administrateurs" in tg.callback_answers[-1].get("text", "")
            target = await asyncio.to_thread(find, db, str(group))
            assert target is not None and target.languages == "both"  # unchanged

    asyncio.run(play())


def test_a_groups_admin_turns_it_live_and_a_member_cannot(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0
    group = tg.add_chat("group", title="Rédaction")
    upsert(db, str(group), kind="group")

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(group, "/schedule live", user_id=MEMBER)
            refused = (await asyncio.to_thread(tg.wait_for_messages, group, 1, 10.0))[-1]
            assert "Seuls les administrateurs" in refused["text"]
            tg.user_message(group, "/schedule live", user_id=OWNER)
            done = (await asyncio.to_thread(tg.wait_for_messages, group, 2, 10.0))[-1]
            assert "au fil de l'eau" in done["text"]
            await target_until(db, str(group), lambda t: t is not None and t.schedule == "live")

    asyncio.run(play())


def test_a_topic_is_set_up_from_inside_it_and_gets_its_own_digest(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)
    tg.per_chat_rate = 0
    forum = tg.add_chat("supergroup", title="Desk", is_forum=True)
    economy = tg.create_topic(forum, "Économie")
    upsert(db, str(forum), kind="supergroup", languages="both", include=("Amazon",))
    topic = address(forum, economy)

    async def play() -> None:
        async with running(settings, db) as application:
            tg.user_message(forum, "/settings", user_id=MEMBER, message_thread_id=economy)
            refused = (await asyncio.to_thread(tg.wait_for_messages_in, forum, economy, 1,
                                               10.0))[-1]
            assert "Seuls les administrateurs" in refused["text"]
            assert await asyncio.to_thread(find, db, topic) is None  # a member made nothing
            tg.user_message(forum, "/settings", user_id=OWNER, message_thread_id=economy)
            panel = (await asyncio.to_thread(tg.wait_for_messages_in, forum, economy, 2,
                                             10.0))[-1]
            made = await asyncio.to_thread(find, db, topic)
            assert made is not None and (made.kind, made.title, made.languages, made.include,
                                         made.thread_id) == (
                "supergroup", "Desk › Économie", "both", ("Amazon",), economy)
            data = next(b["callback_data"] for row in panel["reply_markup"]["inline_keyboard"]
                        for b in row if b.get("callback_data", "").endswith("lang:fr"))
            tg.press_button(forum, panel["message_id"], data, user_id=OWNER)
            await target_until(db, topic, lambda t: t is not None and t.languages == "fr")
            parent = await asyncio.to_thread(find, db, str(forum))
            assert parent is not None and parent.languages == "both"  # the group's own stays
            tg.user_message(forum, "/time 7:00", user_id=OWNER, message_thread_id=economy)
            await asyncio.to_thread(tg.wait_for_messages_in, forum, economy, 3, 10.0)
            target = await target_until(db, topic, lambda t: t is not None
                                        and t.digest_time == "07:00")
            assert target is not None
            await asyncio.to_thread(partial(upsert, db, str(forum), active=False))
            at = datetime(2026, 12, 3, 7, 0, tzinfo=ZoneInfo(target.timezone))
            service = Service(settings, db, channel_for(application), clock=lambda: at)
            service.ready.set()
            await service.deliver()
            posted = await asyncio.to_thread(tg.wait_for_messages_in, forum, economy, 4, 10.0)
            assert "Amazon" in posted[-1]["text"]
            assert tg.messages_in(forum, None) == []  # nothing in General, all in the topic

    asyncio.run(play())
