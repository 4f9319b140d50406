"""/filters: a reader's keyword filters, shown, changed and applied to their digests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from briefing.bot.keywords import parse
from briefing.service.subscribers import FilterAction
from briefing.store.db import Database
from briefing.store.subscribers import find
from tests.bot.conftest import ANA, bot_settings, running, said, seed_store
from tests.fakes.telegram_server import FakeTelegram


def test_the_words_after_filters_name_an_action_and_its_phrases() -> None:
    assert parse("+ énergie, prix de l'énergie") == (
        FilterAction.INCLUDE, ["énergie", "prix de l'énergie"])
    assert parse("-football") == (FilterAction.EXCLUDE, ["football"])
    assert parse("Écarter football") == (FilterAction.EXCLUDE, ["football"])
    assert parse("retirer football") == (FilterAction.REMOVE, ["football"])
    assert parse("clear") == (FilterAction.CLEAR, [])
    assert parse("") is None and parse("football") is None  # no action: the filters shown


def test_filters_are_shown_changed_and_applied_to_the_digest(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    seed_store(db, tmp_path, settings)  # one story: Amazon, Trump and the Pentagon
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/start", user_id=ANA, language_code="fr")
            count = len(await said(tg, ANA))
            steps = [
                ("/filters", "Aucun filtre"),
                ("/filters + football, Coupe du monde", "« football », « Coupe du monde »"),
                ("/digest", "Rien de neuf"),  # the Amazon story holds neither
                ("/filters retirer football, coupe du monde", "Aucun filtre"),
                ("/filters - pentagone", "Écartées : les histoires qui contiennent « pentagone »"),
                ("/digest", "Rien de neuf"),  # "Pentagone" is in its brief: left out
                ("/filters effacer", "Aucun filtre"),
            ]
            for text, expected in steps:
                tg.user_message(ANA, text, user_id=ANA, language_code="fr")
                count += 1
                reply = (await said(tg, ANA, count))[-1]
                assert expected in reply["text"], (text, reply["text"])
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            digest = await said(tg, ANA, count + 1)
            assert "Amazon" in " ".join(m["text"] for m in digest[count:])

    asyncio.run(play())
    reader = find(db, str(ANA))
    assert reader is not None and (reader.include, reader.exclude) == ((), ())


def test_refused_phrases_are_named(tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/filters + (.*), un deux trois quatre cinq six sept, énergie",
                            user_id=ANA, language_code="fr")
            reply = (await said(tg, ANA))[-1]
            assert reply["text"].startswith("Non retenu")
            assert "(.*)" in reply["text"] and "« énergie »" in reply["text"]

    asyncio.run(play())
    reader = find(db, str(ANA))
    assert reader is not None and reader.include == ("énergie",)
