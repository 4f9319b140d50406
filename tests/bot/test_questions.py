"""Questions find the story the reader means: over the stories sent to them, in a digest
message replied to, or by a button when two stories fit; answers name their story and
attribute quotes to outlets, translated or marked untranslated; no message goes unanswered.

The store holds four stories from four outlets: the Amazon/JEDI one (two sources, dated
2020, so the oldest) and three French local ones (tram, glacier, rail).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

from briefing.config import Settings
from briefing.service.articles import store_article
from briefing.service.summaries import summarise_pending
from briefing.sources.extract import extract_text
from briefing.store.db import Database
from tests.bot.conftest import ANA, BOB, Message, bot_settings, running, said, until
from tests.conftest import NEWS, SEEDS
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_server import FakeTelegram

AMAZON_HEADLINE = "Entre Donald Trump et Jeff Bezos"
TRAM, RAIL = NEWS["tram"][0], NEWS["rail"][0]
OUTLETS = {"tram": ("La Nouvelle République", "https://lanr.example/tram"),
           "glacier": ("Le Dauphiné", "https://ledauphine.example/glacier"),
           "rail": ("Le Progrès", "https://leprogres.example/rail")}
WORKS = "Les travaux coûteront 48 millions d'euros de plus que prévu"
INTERNAL_ID = re.compile(r"— (?:<a [^>]*>)?S\d")


def add_stories(db: Database, settings: Settings) -> dict[str, int]:
    """Store and brief (offline) the four stories; their ids by name."""
    zdnet, reuters = (p.read_text(encoding="utf-8") for p in SEEDS)
    reuters = reuters.strip().removeprefix("date 2020-02").strip()
    pages = [("amazon", "https://zdnet.example/jedi",
              f"date 2020-02\nOutlet: ZDNet\n\n{zdnet}"),
             ("amazon", "https://reuters.example/jedi",
              f"date 2020-02\nOutlet: Reuters\n\n{reuters}")]
    for key, (outlet, url) in OUTLETS.items():
        title, text = NEWS[key]
        pages.append((key, url, f"Title: {title}\nOutlet: {outlet}\n\n{text}"))
    ids: dict[str, int] = {}
    for key, url, page in pages:
        stored = store_article(db, extract_text(page), datetime.now(UTC), url=url)
        assert stored.story_id is not None
        assert ids.setdefault(key, stored.story_id) == stored.story_id
    assert len(set(ids.values())) == 4  # four stories, not one
    summarise_pending(db, settings)
    return ids


def answered(messages: list[Message]) -> bool:
    """Whether the last message is an answer (it names its story)."""
    return bool(messages) and any(word in messages[-1]["text"]
                                  for word in ("À propos de :", "About:"))


def buttons(message: Message) -> list[str]:
    """The callback data of the message's "pick:" buttons (digests may have others)."""
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if str(b.get("callback_data")).startswith("pick:")]


def attributed(text: str, outlet: str, url: str) -> bool:
    """A quote of the answer is signed with the outlet's name, linked to its page."""
    return re.search(rf'— <a href="{re.escape(url)}#:~:text=[^"]*">{re.escape(outlet)}</a>',
                     text) is not None


def test_a_question_without_a_reply_is_about_the_story_it_names(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    add_stories(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/start", user_id=ANA, language_code="fr")
            await said(tg, ANA)
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            tg.user_message(ANA, "/latest 1", user_id=ANA, language_code="fr")
            question = "Pourquoi Amazon poursuit-il Donald Trump en justice ?"
            tg.user_message(ANA, question, user_id=ANA, language_code="fr")  # plain text
            messages = await until(tg, ANA, answered)
            latest, answer = messages[-2], messages[-1]
            # The last message sent before the question is about another story.
            assert latest["text"].startswith("<b>") and "Bezos" not in latest["text"]
            assert answer["plain_text"].startswith(f"À propos de : {AMAZON_HEADLINE}")
            assert "<blockquote>" in answer["text"]
            assert "ne le disent pas" not in answer["text"]
            assert (attributed(answer["text"], "ZDNet", "https://zdnet.example/jedi")
                    or attributed(answer["text"], "Reuters", "https://reuters.example/jedi"))
            assert not INTERNAL_ID.search(answer["text"])
            assert answer["reply_to_message_id"] is not None
            parse_html(answer["text"])

    asyncio.run(play())


def test_a_reply_to_a_digest_is_answered_from_its_nearest_story(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    ids = add_stories(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            messages = await until(tg, ANA, lambda ms: any(TRAM in m["text"] for m in ms))
            part = next(m for m in messages if TRAM in m["text"])
            assert RAIL in part["text"]  # a message about several stories
            tg.user_message(ANA, "Combien coûteront les travaux du tramway ?", user_id=ANA,
                            language_code="fr", reply_to_message_id=part["message_id"])
            answer = (await until(tg, ANA, answered))[-1]
            assert answer["plain_text"].startswith(f"À propos de : {TRAM}")
            assert WORKS in answer["text"]
            assert attributed(answer["text"], *OUTLETS["tram"])
            # Only that story's sources answer: no other outlet of the digest is quoted.
            for other in ("Le Progrès", "Le Dauphiné", "ZDNet", "Reuters"):
                assert other not in answer["text"]
            # A question that names nothing: the reader picks among that message's stories.
            # ("Pourquoi ?" alone asks where the message's points come from: test_tracing.)
            tg.user_message(ANA, "Vraiment ?", user_id=ANA, language_code="fr",
                            reply_to_message_id=part["message_id"])
            choice = (await until(tg, ANA, lambda ms: bool(buttons(ms[-1]))))[-1]
            offered = {f"pick:{ids[key]}" for key in ("tram", "rail")}
            assert offered <= set(buttons(choice))
            # Every story of that message is offered, and only those.
            shown = {key for key in ("tram", "rail", "amazon")
                     if f"pick:{ids[key]}" in buttons(choice)}
            in_part = {"tram", "rail"} | ({"amazon"} if "Bezos" in part["text"] else set())
            assert shown == in_part

    asyncio.run(play())


def test_close_stories_are_offered_as_buttons_and_the_one_picked_is_answered(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    ids = add_stories(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            tg.user_message(ANA, "/digest", user_id=ANA, language_code="fr")
            tg.user_message(ANA, "/ask Qui a parlé lors d'une conférence de presse ?",
                            user_id=ANA, language_code="fr")
            choice = (await until(tg, ANA, lambda ms: bool(ms and buttons(ms[-1]))))[-1]
            # Both stories quote someone at a press conference: the reader says which.
            assert set(buttons(choice)) == {f"pick:{ids['tram']}", f"pick:{ids['rail']}"}
            assert "Laquelle" in choice["text"] and TRAM in choice["plain_text"]
            tg.press_button(ANA, choice["message_id"], f"pick:{ids['tram']}", user_id=ANA)
            await asyncio.to_thread(tg.wait_for_requests, "editMessageText", 1, 10.0)
            edit = tg.edits[-1]
            assert edit["message_id"] == choice["message_id"]
            assert edit["plain_text"].startswith(f"À propos de : {TRAM}")
            assert "Augis" in edit["text"] and attributed(edit["text"], *OUTLETS["tram"])
            assert "Bellini" not in edit["text"]
            assert not buttons(edit)  # no second pick
            assert len(tg.callback_answers) == 1
            # The choice became the answer about the tram: a reply to it asks about the tram.
            count = len(tg.messages_to(ANA))
            tg.user_message(ANA, "Et combien coûteront les travaux ?", user_id=ANA,
                            language_code="fr", reply_to_message_id=choice["message_id"])
            answer = (await said(tg, ANA, count + 1))[-1]
            assert answer["plain_text"].startswith(f"À propos de : {TRAM}")
            assert WORKS in answer["text"]

    asyncio.run(play())


def test_offline_quotes_in_another_language_are_marked_untranslated(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    settings = bot_settings(tg, tmp_path)
    add_stories(db, settings)
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(settings, db):
            # Nothing was sent to Bob yet: the store's latest stories are the candidates.
            tg.user_message(BOB, "What is new with the Tours tramway?", user_id=BOB,
                            language_code="en")
            answer = (await until(tg, BOB, answered))[-1]
            assert answer["plain_text"].startswith(f"About: {TRAM}")
            assert "<blockquote>" in answer["text"]
            assert "(quote not translated)" in answer["text"]
            # A question no story shares a word with is about the last story sent here.
            tg.user_message(BOB, "What is the recipe of an apple pie?", user_id=BOB,
                            language_code="en")
            last = (await said(tg, BOB, 2))[-1]
            assert last["plain_text"].startswith(f"About: {TRAM}")
            assert "The sources do not say." in last["text"]

    asyncio.run(play())


def test_llm_answers_translate_quotes_and_name_sources_by_outlet(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    offline = bot_settings(tg, tmp_path)
    add_stories(db, offline)
    tg.per_chat_rate = 0
    translation = "The works will cost 48 million euros more than planned"

    with FakeOpenAI() as llm:
        llm.queue(Reply.json({
            # The answer's sentence cites the one it rests on: the tram page's fourth.
            "answer": [{"text": "According to S1, the works will cost 48 million euros more.",
                        "support": ["S1:4"]}],
            "supported": True,
            "quotes": [{"text": WORKS, "source": "S1", "translation": translation}],
        }))
        settings = offline.model_copy(update={"llm": offline.llm.model_copy(
            update={"base_url": llm.base_url, "model": "fake-model"})})

        async def play() -> None:
            async with running(settings, db):
                tg.user_message(BOB, "/ask How much will the tramway works cost?",
                                user_id=BOB, language_code="en")
                answer = (await until(tg, BOB, answered))[-1]
                assert answer["plain_text"].startswith(f"About: {TRAM}")
                assert "According to La Nouvelle République, the works" in answer["text"]
                # The sentence ends with its source's number, linked to the sentence it cites.
                assert re.search(r'the works will cost 48 million euros more\. <a href="'
                                 + re.escape(OUTLETS["tram"][1]) + r'#:~:text=Les%20travaux%20'
                                 r'co%C3%BBteront%2048,[^"]*">¹</a>', answer["text"])
                assert f"Translation: {translation}" in answer["text"]
                assert "not translated" not in answer["text"]
                assert attributed(answer["text"], *OUTLETS["tram"])
                assert not INTERNAL_ID.search(answer["text"]) and "S1" not in answer["text"]

        asyncio.run(play())
        assert llm.calls == 1
        schema = llm.requests[0].json["response_format"]["json_schema"]["schema"]
        assert "translation" in schema["properties"]["quotes"]["items"]["required"]


def test_nothing_is_met_with_silence(tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    tg.per_chat_rate = 0

    async def play() -> None:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_message(BOB, "hello there", user_id=BOB, language_code="en")
            tg.user_message(BOB, "What happened today?", user_id=BOB, language_code="en")
            tg.user_message(BOB, "/frobnicate now", user_id=BOB, language_code="en")
            tg.user_message(ANA, "Bonjour", user_id=ANA, language_code="fr")
            hint, nothing, unknown = await said(tg, BOB, 3)
            assert hint["text"].startswith("To ask a question, reply to a brief or send /ask")
            assert "not sent anything" in nothing["text"]  # an empty store, nothing sent
            assert "/frobnicate" in unknown["text"] and buttons(unknown) == ["pick:help"]
            assert (await said(tg, ANA))[0]["text"].startswith("Pour poser une question")
            tg.press_button(BOB, unknown["message_id"], "pick:help", user_id=BOB)
            help_text = (await said(tg, BOB, 4))[-1]["text"]
            assert "/ask" in help_text and "/digest" in help_text

    asyncio.run(play())


QUESTION_TEXTS = ("answer_about", "which_story", "pick_gone", "no_story_matches",
                  "question_hint", "unknown_command", "help_button")
ENGLISH = {"the", "of", "to", "and", "is", "about", "which", "reply", "brief", "send", "see",
           "this", "that", "your", "please", "help", "story", "stories", "ask", "button"}


def test_question_texts_are_in_both_languages_and_french_has_no_english() -> None:
    from string import Formatter

    from briefing.text.catalogue import catalogue

    for key in QUESTION_TEXTS:
        assert key in catalogue("fr") and key in catalogue("en"), key
        fields = [{f for _, f, _, _ in Formatter().parse(catalogue(lang)[key]) if f}
                  for lang in ("fr", "en")]
        assert fields[0] == fields[1], key
        words = {w.strip(".,:;!?()«»").lower() for w in catalogue("fr")[key].split()}
        assert words & ENGLISH == set(), key


def test_a_sticker_gets_a_hint_in_the_readers_language(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    async def play() -> list[str]:
        async with running(bot_settings(tg, tmp_path), db):
            tg.user_sticker(ANA, user_id=ANA, language_code="fr")
            tg.user_sticker(BOB, user_id=BOB, language_code="en")
            return [(await said(tg, ANA))[0]["text"], (await said(tg, BOB))[0]["text"]]

    french, english = asyncio.run(play())
    assert french.startswith("Je lis le texte et les liens")
    assert english.startswith("I read text and links")


def test_an_answer_marks_each_of_its_sentences_with_the_sources_it_rests_on() -> None:
    from briefing.bot.questions import render_answer
    from briefing.briefs.models import Point, Support
    from briefing.llm.usage import Usage
    from briefing.qa.answer import Answer
    from briefing.service.digests import SourceRef

    sentence = "Le pont rouvrira en mai."
    points = (Point("The bridge reopens in May, says S1.", (Support("S1", 2, 30, 54, sentence),)),
              Point("Traffic resumes on 3 May.", (Support("S2", 1, 0, 24, "La route rouvre le "
                                                                         "3 mai."),)))
    answer = Answer("en", " ".join(p.text for p in points), (), True, "llm", Usage(),
                    points=points)
    sources = {"S1": SourceRef("S1", "Le Courrier", None, "https://ville.example/pont"),
               "S2": SourceRef("S2", "notes.txt")}
    html = render_answer(answer, sources, about="Le pont")
    parse_html(html)
    assert ('The bridge reopens in May, says Le Courrier. <a href="https://ville.example/pont'
            '#:~:text=Le%20pont%20rouvrira%20en%20mai.">¹</a> Traffic resumes on 3 May. ²') in html
    # Without points (the passages, a fixed sentence) the text is shown as before.
    plain = Answer("en", "The sources of this story do not say.", (), False, "llm", Usage())
    assert "¹" not in render_answer(plain, sources)
