"""A French reader and an English reader walk through the bot, as the issue asks: every
message they send gets an answer, a French reader meets no English, and tapping a button
twice is never an error. The exchange is printed (`pytest -s`) for the issue's note."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from briefing.config import Settings
from briefing.store.db import Database
from tests.bot.conftest import ANA, BOB, bot_settings, running, seed_store
from tests.fakes.telegram_server import FakeTelegram
from tests.text.test_catalogue import ALLOWED_IN_FRENCH, ENGLISH

STEPS = ["/start", "/help", "/settings", "/lang", "/lang klingon", "/time 25:99", "/time 7h30",
         "/timezone paris", "/timezone Atlantis", "/sources", "/follow 99", "/digest",
         "/latest abc", "/latest 2", "/summary http://127.0.0.1:9/private", "bonjour",
         "Qui est le secrétaire à la Défense ?", "/nimportequoi"]
ERROR_WORDS = ("quelque chose s'est mal passé", "something went wrong")


def bot_output(tg: FakeTelegram, chat: int) -> list[str]:
    """Every text the bot showed this chat: its messages and their edits."""
    texts = [m["text"] for m in tg.messages_to(chat) if "text" in m]
    texts += [e["text"] for e in tg.edits if e.get("chat_id") in (chat, str(chat))]
    return texts


async def answered(tg: FakeTelegram, chat: int, before: int, timeout: float = 15.0) -> int:
    """Wait until the bot showed this chat something new; the new count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = len(bot_output(tg, chat))
        if now > before:
            await asyncio.sleep(0.3)  # let a second message of the same answer arrive
            return len(bot_output(tg, chat))
        await asyncio.sleep(0.05)
    raise AssertionError(f"silence: nothing answered chat {chat}")


async def walk(tg: FakeTelegram, chat: int, lang: str) -> list[tuple[str, list[str]]]:
    log: list[tuple[str, list[str]]] = []
    for step in STEPS:
        before = len(bot_output(tg, chat))
        tg.user_message(chat, step, user_id=chat, language_code=lang)
        after = await answered(tg, chat, before)
        log.append((step, bot_output(tg, chat)[before:after]))
    before = len(tg.messages_to(chat))
    tg.user_message(chat, "/settings", user_id=chat, language_code=lang)
    await answered(tg, chat, len(bot_output(tg, chat)))
    panel = tg.messages_to(chat)[before]
    answers = len(tg.callback_answers)
    for data in ("set:lang:both", "set:lang:both", "set:lang:both"):  # a triple tap
        tg.press_button(chat, panel["message_id"], data, user_id=chat)
    deadline = time.monotonic() + 10
    while len(tg.callback_answers) < answers + 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(tg.callback_answers) == answers + 3  # every tap answered, none left spinning
    return log


def test_a_french_and_an_english_reader_meet_no_silence_no_english_and_no_error(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings: Settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)

    async def play() -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
        async with running(settings, db):
            return await walk(tg, ANA, "fr"), await walk(tg, BOB, "en")

    french, english = asyncio.run(play())
    for who, log in (("fr", french), ("en", english)):
        for step, replies in log:
            print(f"[{who}] > {step}")
            for reply in replies:
                print(f"[{who}] < {reply}")
    english_words = ENGLISH - ALLOWED_IN_FRENCH
    for step, replies in french:
        for reply in replies:
            plain = re.sub(r"https?://\S+|/\w+|<[^>]+>", " ", reply)
            words = {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ']+", plain)}
            assert words & english_words == set(), (step, reply)
    for _step, replies in french + english:
        assert not any(err in reply for reply in replies for err in ERROR_WORDS)
