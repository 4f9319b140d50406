"""How renderers show an offline brief that could not be translated: once, labelled."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from rich.console import Console

from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.render.telegram import digest_messages
from briefing.render.terminal import render_terminal
from briefing.service.digests import DigestItem, render_text
from tests.conftest import text_story

FR: dict[str, Any] = {"language": "fr", "headline": "Le conseil vote le budget des écoles.",
      "points": ["Les travaux commencent en septembre."],
      "quotes": [{"text": "C'est un vote historique", "source": "S1", "translation": None}]}


def copy_of(brief: dict[str, Any], lang: str, original: str) -> dict[str, Any]:
    return {**brief, "language": lang, "original_language": original}


def telegram(briefs: list[dict[str, Any]], lang: str) -> str:
    item = {"story_id": 1, "briefs": briefs, "sources": [("Le Progrès", None)],
            "source_details": [{"id": "S1", "outlet": "Le Progrès", "url": None}]}
    return "\n".join(text for text, _ in digest_messages([item], "02/12", lang))


def test_both_languages_show_an_untranslated_brief_once() -> None:
    text = telegram([FR, copy_of(FR, "en", "fr")], "fr")
    assert text.count(FR["headline"]) == 1 and text.count(FR["points"][0]) == 1


def test_an_untranslated_brief_is_labelled_in_the_readers_language() -> None:
    assert "(untranslated — in French)" in telegram([copy_of(FR, "en", "fr")], "en")
    english = {**FR, "language": "en", "headline": "The council votes the budget."}
    assert "(non traduit — en anglais)" in telegram([copy_of(english, "fr", "en")], "fr")
    german = {**FR, "language": "de", "headline": "Der Stadtrat beschließt den Haushalt."}
    both = telegram([copy_of(german, "fr", "de"), copy_of(german, "en", "de")], "fr")
    assert both.count(german["headline"]) == 1 and "(non traduit — en allemand)" in both


def test_plain_text_digests_name_languages_and_show_a_brief_once() -> None:
    item = DigestItem(1, (FR, copy_of(FR, "en", "fr")), (("Le Progrès", None),), None)
    text = "\n".join(p["text"] for p in render_text([item], date(2026, 12, 2)))
    assert text.count(FR["headline"]) == 1 and "[Français]" in text and "[fr]" not in text
    alone = DigestItem(1, (copy_of(FR, "en", "fr"),), (("Le Progrès", None),), None)
    text = "\n".join(p["text"] for p in render_text([alone], date(2026, 12, 2)))
    assert f"[English, untranslated — in French] {FR['headline']}" in text


def test_terminal_shows_the_french_brief_once_and_says_english_is_untranslated(
    seed_story: Any, offline_settings: Settings
) -> None:
    result = summarise(seed_story, offline_settings)
    out = io.StringIO()
    render_terminal(result, Console(file=out, width=200))
    text = out.getvalue()
    assert text.count(result.briefs["fr"].headline) == 1 and text.count("╭─") == 1
    assert "English: the French brief above, untranslated" in text
    assert text.count("Translation needs an LLM") == 1 and "· French" in text


def test_terminal_says_a_german_source_is_in_german(offline_settings: Settings) -> None:
    story = text_story(
        "Der Stadtrat von Leipzig hat am Dienstag einen neuen Haushalt beschlossen. "
        "\"Wir wollen, dass jedes Kind ein warmes Klassenzimmer hat\", sagte die "
        "Bürgermeisterin vor den Abgeordneten. Die Arbeiten beginnen im September in sechs "
        "Schulen der Innenstadt, teilte die Stadt mit.", language="de")
    out = io.StringIO()
    render_terminal(summarise(story, offline_settings), Console(file=out, width=200))
    text = out.getvalue()
    assert "Français (non traduit — en allemand)" in text
    assert "English: the German brief above, untranslated" in text
    assert "· German" in text and text.count("╭─") == 1  # one brief panel, not two
