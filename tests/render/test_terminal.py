"""How renderers show an offline brief that could not be translated: once, labelled."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from typing import Any

from rich.console import Console

from briefing.briefs.models import Brief, Point, Quote
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.render.telegram import digest_messages
from briefing.render.terminal import render_terminal
from briefing.render.text import render_text
from briefing.service.digests import Digest, DigestItem, SourceRef
from tests.conftest import text_story

FR = Brief("fr", "Le conseil vote le budget des écoles.",
           (Point("Les travaux commencent en septembre.", ()),),
           (Quote("C'est un vote historique", "S1", 0, 24),))
SOURCES = (SourceRef("S1", "Le Progrès"),)


def copy_of(brief: Brief, lang: str, original: str) -> Brief:
    return replace(brief, language=lang, original_language=original)


def telegram(briefs: list[Brief], lang: str) -> str:
    item = DigestItem(1, tuple(briefs), SOURCES)
    return "\n".join(text for text, _ in digest_messages([item], "02/12", lang))


def plain(*briefs: Brief) -> str:
    digest = Digest(date(2026, 12, 2), ("fr", "en"), (DigestItem(1, briefs, SOURCES),))
    return "\n".join(p.text for p in render_text(digest))


def test_both_languages_show_an_untranslated_brief_once() -> None:
    text = telegram([FR, copy_of(FR, "en", "fr")], "fr")
    assert text.count(FR.headline) == 1 and text.count(FR.points[0].text) == 1


def test_an_untranslated_brief_is_labelled_in_the_readers_language() -> None:
    """In Telegram the headline is marked with its language, the reason said once."""
    text = telegram([copy_of(FR, "en", "fr")], "en")
    assert f"<b>{FR.headline}</b> <i>(in French)</i>" in text
    assert text.count("Not translated: without automatic translation") == 1
    english = replace(FR, language="en", headline="The council votes the budget.")
    text = telegram([copy_of(english, "fr", "en")], "fr")
    assert "(en anglais)" in text and text.count("Non traduit") == 1
    german = replace(FR, language="de", headline="Der Stadtrat beschließt den Haushalt.")
    both = telegram([copy_of(german, "fr", "de"), copy_of(german, "en", "de")], "fr")
    assert both.count(german.headline) == 1 and "(en allemand)" in both


def test_plain_text_digests_name_languages_and_show_a_brief_once() -> None:
    text = plain(FR, copy_of(FR, "en", "fr"))
    assert text.count(FR.headline) == 1 and "[Français]" in text and "[fr]" not in text
    assert "— Le Progrès" in text and "« C'est un vote historique »" in text
    text = plain(copy_of(FR, "en", "fr"))
    assert f"[English, untranslated — in French] {FR.headline}" in text


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


def test_the_footer_counts_points_next_to_quotes_with_the_reasons_for_drops() -> None:
    from briefing.briefs.models import CitationCounts, Result
    from briefing.llm.usage import Usage

    counts = CitationCounts(proposed=4, verified=4, points_proposed=6, points_supported=3,
                            points_retried=3, points_dropped_numbers=2,
                            points_dropped_wrong_source=1)
    result = Result(text_story("Le conseil vote le budget des écoles."), {"fr": FR}, "llm",
                    "m", Usage(), counts)
    out = io.StringIO()
    render_terminal(result, Console(file=out, width=200))
    footer = out.getvalue().splitlines()
    assert ("points: 6 proposed, 3 supported by their cited sentences, 3 retried, 3 dropped "
            "(wrong source 1, numbers 2), 0 from the offline engine") in footer
