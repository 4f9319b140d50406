"""Readers can trace every point, through the real python-telegram-bot on the fake Bot API:
a brief's points are numbered and link each source to the sentence they rest on; /why N
(as a reply, or about the last brief) and a reply "source?" quote those sentences
verbatim, attributed and linked; what cannot be answered gets one friendly line.

The tram story is briefed by a scripted model whose points restate sentences of the page
in other words, citing them; expected links are written out by hand from the text-fragment
syntax (the first and last four words of a sentence, percent-encoded).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from briefing.bot.texts import command_menu, help_text
from briefing.bot.tracing import reference, source_request
from briefing.config import Settings
from briefing.render.tracing import Ask
from briefing.service.articles import store_article
from briefing.service.summaries import summarise_pending
from briefing.sources.extract import extract_text
from briefing.store.db import Database
from briefing.store.models import BriefRow
from tests.bot.conftest import ANA, BOB, Message, bot_settings, running, said, until
from tests.bot.test_questions import add_stories
from tests.conftest import NEWS
from tests.fakes.briefs import brief_answer, numbered
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_server import FakeTelegram

TRAM_URL = "https://lanr.example/tram"
OUTLET = "La Nouvelle République"
RESTART = ("Le chantier du tramway de Tours a repris lundi après huit mois d'arrêt, a annoncé "
           "la métropole.")
WORKS = ("Les travaux coûteront 48 millions d'euros de plus que prévu, selon le dernier budget "
         "voté en 1998 pour la première ligne et révisé depuis.")
RESTART_URL = (f"{TRAM_URL}#:~:text=Le%20chantier%20du%20tramway,"
               "a%20annonc%C3%A9%20la%20m%C3%A9tropole.")
WORKS_URL = (f"{TRAM_URL}#:~:text=Les%20travaux%20co%C3%BBteront%2048,"
             "ligne%20et%20r%C3%A9vis%C3%A9%20depuis.")
# The model's points: other words than the page's, each citing the sentence that says it.
POINTS = {"fr": [("Le chantier du tramway a repris lundi.", RESTART),
                 ("Les travaux coûteront 48 millions d'euros de plus que prévu.", WORKS)],
          "en": [("Work on the tramway has restarted.", RESTART),
                 ("The works will cost 48 million euros more than planned.", WORKS)]}


def grounded_brief(request: dict[str, Any]) -> Reply:
    """A model's brief whose points cite, by id, the sentences of the request they restate."""
    cite = {line: f"{sid}:{n}" for sid, n, line in numbered(request)}
    answer = brief_answer(request)
    for lang in answer:
        answer[lang]["points"] = [{"text": text, "support": [cite[sentence]]}
                                  for text, sentence in POINTS[lang]]
    return Reply.content(json.dumps(answer, ensure_ascii=False))


def brief_tram(db: Database, settings: Settings) -> int:
    """Store the tram page and have the scripted model brief it; its story id."""
    title, text = NEWS["tram"]
    page = f"Title: {title}\nOutlet: {OUTLET}\n\n{text}"
    stored = store_article(db, extract_text(page), datetime.now(UTC), url=TRAM_URL)
    assert stored.story_id is not None
    with FakeOpenAI(default=grounded_brief) as llm:
        summarise_pending(db, settings.model_copy(update={"llm": settings.llm.model_copy(
            update={"base_url": llm.base_url, "model": "fake-model"})}))
        assert llm.calls >= 1
    with db.session() as session:
        assert session.query(BriefRow).filter_by(engine="llm").count() == 2
    return stored.story_id


def last(tg: FakeTelegram, chat: int, n: int) -> Message:
    """The reply once `n` messages were sent to `chat`, checked as Telegram would."""
    message = tg.messages_to(chat)[n - 1]
    parse_html(message["text"])
    return message


def quoted(sentence: str, url: str, number: str = "¹") -> str:
    """A cited sentence as a /why answer shows it: verbatim, attributed, linked."""
    return f'<blockquote>{sentence}\n— {number} <a href="{url}">{OUTLET}</a></blockquote>'


def test_a_brief_links_each_point_to_its_sentence_and_why_quotes_it(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    brief_tram(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/start", user_id=ANA, language_code="fr")
            welcome = (await said(tg, ANA))[0]
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            brief = next(m for m in await until(tg, ANA, lambda ms: any(
                "Titre fr" in m["text"] for m in ms)) if "Titre fr" in m["text"])
            parse_html(brief["text"])
            text = brief["text"]
            assert (f'① Le chantier du tramway a repris lundi. <a href="{RESTART_URL}">¹</a>'
                    in text)
            assert (f"② Les travaux coûteront 48 millions d'euros de plus que prévu. "
                    f'<a href="{WORKS_URL}">¹</a>') in text
            assert f"Sources : ¹ {OUTLET}" in brief["plain_text"]
            count = len(tg.messages_to(ANA))

            # /why 2 as a reply: that point's sentence, verbatim, and no other.
            tg.user_message(ANA, "/why 2", user_id=ANA, language_code="fr",
                            reply_to_message_id=brief["message_id"])
            answer = (await said(tg, ANA, count + 1))[-1]
            parse_html(answer["text"])
            assert answer["reply_to_message_id"] is not None
            assert "② <i>Les travaux coûteront 48 millions d'euros de plus que prévu.</i>" in (
                answer["text"])
            assert quoted(WORKS, WORKS_URL) in answer["text"]
            assert RESTART not in answer["text"]

            # "Source ?" as a reply: every point's sentence.
            tg.user_message(ANA, "Source ?", user_id=ANA, language_code="fr",
                            reply_to_message_id=brief["message_id"])
            every = (await said(tg, ANA, count + 2))[-1]
            parse_html(every["text"])
            assert quoted(RESTART, RESTART_URL) in every["text"]
            assert quoted(WORKS, WORKS_URL) in every["text"]
            assert every["text"].index("①") < every["text"].index("②")

            # A point the brief does not have, a message that shows no story: one line each.
            tg.user_message(ANA, "/why 9", user_id=ANA, language_code="fr",
                            reply_to_message_id=brief["message_id"])
            tg.user_message(ANA, "/why 1", user_id=ANA, language_code="fr",
                            reply_to_message_id=welcome["message_id"])
            tg.user_message(ANA, "/why tout", user_id=ANA, language_code="fr")
            nine, old, usage = (await said(tg, ANA, count + 5))[-3:]
            assert nine["text"] == ("Il n'y a pas de point 9 ici : les points de ce résumé "
                                    "vont de ① à ②.")
            assert old["text"].startswith("Je ne retrouve plus ce que disait ce message")
            assert usage["text"].startswith("Écrivez /why et le numéro d'un point")
            for line in (nine, old, usage):
                assert "\n" not in line["text"] and "<blockquote>" not in line["text"]

            # /why alone (no reply) is about the last brief sent; a copied ① reads as 1.
            tg.user_message(ANA, "/why ①", user_id=ANA, language_code="fr")
            alone = (await said(tg, ANA, count + 6))[-1]
            assert quoted(RESTART, RESTART_URL) in alone["text"] and WORKS not in alone["text"]

    asyncio.run(play())


def test_a_reader_of_both_languages_traces_the_english_points_by_their_numbers(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    brief_tram(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(BOB, "/start", user_id=BOB, language_code="en")
            tg.user_message(BOB, "/lang both", user_id=BOB, language_code="en")
            await said(tg, BOB, 2)
            tg.user_message(BOB, "/digest", user_id=BOB, language_code="en")
            brief = (await until(tg, BOB, lambda ms: "🇬🇧" in ms[-1]["text"]))[-1]
            text = brief["text"]
            assert text.index("🇫🇷") < text.index("②") < text.index("🇬🇧") < text.index("③")
            assert (f'④ The works will cost 48 million euros more than planned. '
                    f'<a href="{WORKS_URL}">¹</a>') in text
            count = len(tg.messages_to(BOB))
            tg.user_message(BOB, "why?", user_id=BOB, language_code="en",
                            reply_to_message_id=brief["message_id"])
            tg.user_message(BOB, "/why 4", user_id=BOB, language_code="en",
                            reply_to_message_id=brief["message_id"])
            every, fourth = (await said(tg, BOB, count + 2))[-2:]
            assert every["text"].count("<blockquote>") == 4  # two points in each language
            assert "④ <i>The works will cost 48 million euros more than planned.</i>" in (
                fourth["text"])
            assert quoted(WORKS, WORKS_URL) in fourth["text"]
            assert RESTART not in fourth["text"]

    asyncio.run(play())


def test_in_a_digest_of_several_stories_why_takes_the_story_number(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    add_stories(db, settings)  # four stories briefed offline: points are source sentences
    tg.per_chat_rate = 0
    tram_title, tram_text = NEWS["tram"]

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            messages = await until(tg, ANA, lambda ms: any(tram_title in m["text"] for m in ms))
            part = next(m for m in messages if tram_title in m["text"])
            assert len(re.findall(r"<b>\d+\.</b>", part["text"])) > 1  # several stories
            number = re.search(rf"<b>(\d+)\.</b> <b>{re.escape(tram_title)}</b>",
                               part["text"])
            assert number is not None
            block = next(b for b in part["text"].split("\n\n") if tram_title in b)
            first = next(line for line in block.split("\n") if line.startswith("① "))
            sentence = first.removeprefix("① ").split(" <a ")[0]
            assert sentence in tram_text  # offline points are the page's own sentences
            count = len(tg.messages_to(ANA))

            tg.user_message(ANA, "/why 1", user_id=ANA, language_code="fr",
                            reply_to_message_id=part["message_id"])
            tg.user_message(ANA, f"/why {number.group(1)}.1", user_id=ANA, language_code="fr",
                            reply_to_message_id=part["message_id"])
            tg.user_message(ANA, "/why 99,1", user_id=ANA, language_code="fr",
                            reply_to_message_id=part["message_id"])
            which, traced, none = (await said(tg, ANA, count + 3))[-3:]
            assert which["text"].startswith("Ce message contient plusieurs histoires : écrivez "
                                             "/why ")
            assert re.search(r"/why \d+\.1 pour le point ① de l'histoire \d+\.$",
                             which["text"])
            parse_html(traced["text"])
            assert traced["text"].startswith(f"<b>{number.group(1)}. {tram_title}</b>\n①")
            assert (f'<blockquote>{sentence}\n— ¹ <a href="{TRAM_URL}#:~:text='
                    in traced["text"])
            assert f'">{OUTLET}</a></blockquote>' in traced["text"]
            assert none["text"] == "Ce message n'a pas d'histoire 99."

    asyncio.run(play())


def test_a_point_stored_without_support_says_it_predates_traceable_points(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    story = brief_tram(db, settings)
    with db.session() as session:  # as a brief stored before points carried their support
        for row in session.query(BriefRow).filter_by(story_id=story):
            row.points = [point["text"] for point in row.points]
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            brief = (await until(tg, ANA, lambda ms: any("Titre fr" in m["text"]
                                                         for m in ms)))[-1]
            assert "① Le chantier du tramway a repris lundi.\n" in brief["text"]  # no mark
            count = len(tg.messages_to(ANA))
            tg.user_message(ANA, "/why 1", user_id=ANA, language_code="fr",
                            reply_to_message_id=brief["message_id"])
            tg.user_message(ANA, "d’où ça vient", user_id=ANA, language_code="fr",
                            reply_to_message_id=brief["message_id"])
            one, every = (await said(tg, ANA, count + 2))[-2:]
            assert one["text"].startswith("Le point ① a été écrit avant que les points ne "
                                          "citent leurs sources")
            assert every["text"].startswith("Ce résumé a été écrit avant que les points ne "
                                            "citent leurs sources")

    asyncio.run(play())


def test_the_words_that_ask_for_sources() -> None:
    for text in ("source?", "Sources ?", "SOURCE", "source ?", "D'où ça vient ?",
                 "d’ou ca vient?", "Pourquoi ?", "why?", "Why"):
        assert source_request(text) == Ask(), text
    assert source_request("source 2 ?") == Ask(None, 2)
    assert source_request("pourquoi 3.2") == Ask(3, 2)
    for text in ("Pourquoi Amazon poursuit-il Trump ?", "sources de cet article ?",
                 "where is the source?", "2", ""):
        assert source_request(text) is None, text
    assert reference("") == Ask() and reference("2") == Ask(None, 2)
    assert reference("3.2") == Ask(3, 2) and reference("3,2") == Ask(3, 2)
    assert reference("②") == Ask(None, 2)
    assert reference("3.") == Ask(None, 3)  # a final full stop is punctuation
    for text in ("0", "0.1", "3.x", "deux", "1.2.3"):
        assert reference(text) is None, text


def test_why_is_in_the_menu_and_the_help_in_both_languages() -> None:
    for lang, words in (("fr", "d'où vient un point"), ("en", "where a point comes from")):
        assert [name for name, _ in command_menu(lang)].count("why") == 1
        line = next(line for line in help_text(lang).splitlines() if line.startswith("/why"))
        assert words in line and "/why 3.2" in line
