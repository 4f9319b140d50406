"""Live targets through the real python-telegram-bot on the fake Bot API: a channel gets a
story's post once it is confirmed, then an edit in place when a source joins; an older
post gets a short reply instead; at most `live.posts_per_hour` posts an hour."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from briefing.bot.app import channel_for
from briefing.config import Settings
from briefing.service.folder import FolderWatcher
from briefing.service.runner import Service
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database
from briefing.store.subscribers import upsert
from tests.bot.conftest import bot_settings, running
from tests.conftest import SEEDS
from tests.fakes.telegram_server import FakeTelegram


def live_settings(tg: FakeTelegram, tmp_path: Path, **live: object) -> Settings:
    settings = bot_settings(tg, tmp_path)
    return settings.model_copy(update={
        "live": settings.live.model_copy(update={"confirm_minutes": 0.0, **live}),
        "service": settings.service.model_copy(update={"rebrief_quiet_minutes": 0.0,
                                                       "rebrief_max_delay_minutes": 0.0}),
    })


def add_seed(db: Database, folder: Path, seed: Path) -> None:
    folder.mkdir(exist_ok=True)
    shutil.copy(seed, folder / seed.name)
    os.utime(folder / seed.name, (time.time() - 60,) * 2)
    FolderWatcher(folder).ingest(db)


def live_channel(tg: FakeTelegram, db: Database) -> int:
    channel = tg.add_chat("channel", title="Le Fil")
    far = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")  # no digest due now
    upsert(db, str(channel), kind="channel", schedule="live", languages="fr",
           digest_time=far, timezone="UTC", active=True)
    return channel


def test_a_channel_gets_its_live_post_then_an_edit_when_a_source_joins(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = live_settings(tg, tmp_path)
    folder = tmp_path / "articles"
    channel = live_channel(tg, db)
    add_seed(db, folder, SEEDS[0])
    summarise_pending(db, settings)

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application))
            service.ready.set()
            await service.deliver()
            (post,) = tg.messages_to(channel)
            assert "Amazon" in post["text"] and not post.get("reply_markup")
            assert "start=story_" in post["text"]  # a private chat to ask about it
            await service.deliver()  # nothing new: no second post, no edit
            assert len(tg.messages_to(channel)) == 1 and tg.edits == []
            add_seed(db, folder, SEEDS[1])  # a second outlet joins the story
            summarise_pending(db, settings)
            await service.deliver()
            (edit,) = [e for e in tg.edits if e["chat_id"] == channel]
            assert edit["message_id"] == post["message_id"]
            assert "001_e65f6cd78ecb6eaa.txt" in edit["text"]  # the new source is named
            assert len(tg.messages_to(channel)) == 1  # edited in place, never reposted
            await service.deliver()
            assert len([e for e in tg.edits if e["chat_id"] == channel]) == 1

    asyncio.run(play())


def test_an_older_post_gets_a_short_reply_saying_what_is_new(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = live_settings(tg, tmp_path, edit_window_hours=0.0)
    folder = tmp_path / "articles"
    channel = live_channel(tg, db)
    add_seed(db, folder, SEEDS[0])
    summarise_pending(db, settings)

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application))
            service.ready.set()
            await service.deliver()
            (post,) = tg.messages_to(channel)
            add_seed(db, folder, SEEDS[1])
            summarise_pending(db, settings)
            await service.deliver()
            post_again, update = tg.messages_to(channel)
            assert post_again["message_id"] == post["message_id"] and tg.edits == []
            assert update["reply_to_message_id"] == post["message_id"]
            assert "source(s) de plus : 001_e65f6cd78ecb6eaa.txt" in update["text"]
            assert len(update["text"]) < len(post["text"])  # never a full repost

    asyncio.run(play())


def test_live_posts_are_capped_per_hour_and_the_rest_wait(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    from tests.service.test_digests import add_story

    settings = live_settings(tg, tmp_path, posts_per_hour=2)
    channel = live_channel(tg, db)
    now = datetime.now(UTC)
    for i in range(4):
        add_story(db, f"histoire{i}", 1, now - timedelta(minutes=10 + i))

    async def play() -> None:
        async with running(settings, db) as application:
            service = Service(settings, db, channel_for(application))
            service.ready.set()
            await service.deliver()
            await service.deliver()
            assert len(tg.messages_to(channel)) == 2  # the other two wait

    asyncio.run(play())
