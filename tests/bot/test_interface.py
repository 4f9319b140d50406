"""A digest sent at its time speaks the reader's interface language (their Telegram's),
even when they read briefs in both languages; migration 0006 stores that language."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from briefing.bot.app import channel_for
from briefing.service.runner import Service
from briefing.store.db import Database, make_engine
from briefing.store.subscribers import find
from tests.bot.conftest import BOB, bot_settings, running, said, seed_store
from tests.fakes.telegram_server import FakeTelegram
from tests.service.test_outbox import migrate


def test_an_english_reader_of_both_languages_gets_an_english_digest(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)

    async def play() -> str:
        async with running(settings, db) as application:
            tg.user_message(BOB, "/start", user_id=BOB, language_code="en")
            tg.user_message(BOB, "/lang both", user_id=BOB, language_code="en")
            await said(tg, BOB, 2)
            reader = find(db, str(BOB))
            assert reader is not None and reader.interface_language == "en"
            zone = ZoneInfo(reader.timezone)
            local = datetime.now(zone).replace(hour=7, minute=31, second=0, microsecond=0)
            service = Service(settings, db, channel_for(application), clock=lambda: local)
            service.ready.set()
            await service.deliver()
            digest: str = (await said(tg, BOB, 3))[2]["text"]
            return digest

    header = asyncio.run(play()).splitlines()[0]
    # Before: the first brief language (French) spoke for a reader of both.
    assert header.startswith("<b>Your briefing for"), header


def test_migration_0006_adds_the_interface_language_and_goes_back(store_url: str) -> None:
    migrate(store_url, "0005")
    migrate(store_url, "0006")
    engine = make_engine(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("subscribers")}
    finally:
        engine.dispose()
    assert "interface_language" in columns
    migrate(store_url, "0005", down=True)
    engine = make_engine(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("subscribers")}
    finally:
        engine.dispose()
    assert "interface_language" not in columns
