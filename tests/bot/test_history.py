"""/story N: how a story grew, version by version, through the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from briefing.service.folder import FolderWatcher
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database
from briefing.store.models import StoryRow
from briefing.store.stories import story_history
from tests.bot.conftest import ANA, bot_settings, running, said
from tests.conftest import SEEDS
from tests.fakes.telegram_server import FakeTelegram


def add_seed(db: Database, folder: Path, seed: Path) -> None:
    folder.mkdir(exist_ok=True)
    shutil.copy(seed, folder / seed.name)
    os.utime(folder / seed.name, (time.time() - 60,) * 2)
    FolderWatcher(folder).ingest(db)


def test_story_shows_each_version_and_the_sources_that_joined(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    folder = tmp_path / "articles"
    add_seed(db, folder, SEEDS[0])
    summarise_pending(db, settings)
    add_seed(db, folder, SEEDS[1])
    later = datetime.now(UTC) + timedelta(hours=1)  # past the re-brief's quiet period
    assert len(summarise_pending(db, settings, clock=lambda: later).summarised) == 1
    with db.session() as session:
        story_id = session.scalars(select(StoryRow.id)).one()
    versions = story_history(db, story_id, "fr")
    assert [len(v.sources) for v in versions] == [1, 2]
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/start", user_id=ANA, language_code="fr")
            count = len(await said(tg, ANA))
            tg.user_message(ANA, "/latest 1", user_id=ANA, language_code="fr")
            latest = (await said(tg, ANA, count + 1))[-1]
            tg.user_message(ANA, "/story", user_id=ANA, language_code="fr",
                            reply_to_message_id=latest["message_id"])
            history = (await said(tg, ANA, count + 2))[-1]
            text = history["plain_text"]
            assert text.startswith("Comment cette histoire a évolué")
            assert "Version 1," in text and "sources : 1\n" in text
            assert "Version 2," in text and "sources : 2 — nouvelles : " in text
            assert versions[1].sources[1] in text.split("nouvelles : ", 1)[1]
            tg.user_message(ANA, "/story 7", user_id=ANA, language_code="fr",
                            reply_to_message_id=latest["message_id"])
            unknown = (await said(tg, ANA, count + 3))[-1]
            assert "7" in unknown["text"] and "Version" not in unknown["text"]

    asyncio.run(play())
