"""What the bot tests share: the fake Bot API, a store, settings pointing the real
python-telegram-bot at the fake, a running bot, and the readers who talk to it."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from briefing.bot.app import build_application, running_bot
from briefing.config import Settings, StoreSettings, load_settings
from briefing.service.folder import FolderWatcher
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database, open_database
from briefing.store.models import SubscriberRow
from tests.conftest import SEEDS
from tests.fakes.telegram_server import FakeTelegram

ANA = 1001  # a French-speaking reader
BOB = 2002  # an English-speaking reader
ADMIN = 3003


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(StoreSettings(url=f"sqlite:///{tmp_path / 'bot.db'}"))
    yield database
    database.close()


def bot_settings(tg: FakeTelegram, tmp_path: Path, **telegram: Any) -> Settings:
    env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.base_url,
           "BRIEFING_ADMINS": str(ADMIN), "BRIEFING_ALLOW_PRIVATE_URLS": "1",
           "BRIEFING_DATA_DIR": str(tmp_path / "data")}
    settings = load_settings(env=env)
    return settings.model_copy(update={
        "telegram": settings.telegram.model_copy(update=telegram),
        "sources": settings.sources.model_copy(update={"folder": str(tmp_path / "articles")}),
    })


@asynccontextmanager
async def running(settings: Settings, db: Database) -> AsyncIterator[Any]:
    application = build_application(settings, db)
    async with running_bot(application, settings, poll_timeout=1):
        yield application


async def said(tg: FakeTelegram, chat: int, n: int = 1) -> list[dict[str, Any]]:
    return await asyncio.to_thread(tg.wait_for_messages, chat, n, 10.0)


def seed_store(db: Database, tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "articles"
    folder.mkdir(exist_ok=True)
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
        os.utime(folder / seed.name, (time.time() - 60,) * 2)
    FolderWatcher(folder).ingest(db)
    summarise_pending(db, settings)


def subscriber(db: Database, chat: int) -> SubscriberRow:
    with db.session() as session:
        query = select(SubscriberRow).where(SubscriberRow.chat_id == str(chat))
        return session.scalars(query).one()




Message = dict[str, Any]


async def until(tg: FakeTelegram, chat: int, check: Callable[[list[Message]], bool],
                timeout: float = 15.0) -> list[Message]:
    """The messages sent to `chat` (edits applied) once `check` holds for them."""
    deadline = time.monotonic() + timeout
    while True:
        messages = tg.messages_to(chat)
        if check(messages):
            return messages
        if time.monotonic() > deadline:
            raise TimeoutError([m["text"] for m in messages])
        await asyncio.sleep(0.05)
