"""The whole pipeline offline: seeds, the OrangeSum corpus, and the brief's limits."""

from __future__ import annotations

from typing import Any

import pytest

from briefing.config import Settings
from briefing.engines.extractive import ExtractiveEngine
from briefing.errors import ExtractionError
from briefing.models import DraftBrief, DraftQuote, Feedback, Proposal, Result, Story
from briefing.pipeline import summarise
from briefing.sources.load import load_story
from briefing.text import word_count
from tests.conftest import FIXTURES, SEEDS, orangesum, shared_path, text_story


def assert_brief_invariants(result: Result, settings: Settings) -> None:
    """What every result must satisfy, whatever the engine."""
    cfg = settings.brief
    for lang, brief in result.briefs.items():
        assert brief.language == lang
        assert len(brief.points) <= cfg.max_points
        assert word_count(brief.headline) + sum(word_count(p) for p in brief.points) <= 90
        assert len(brief.quotes) <= cfg.max_quotes
        for quote in brief.quotes:
            source = result.story.source(quote.source)
            assert source is not None
            assert source.text[quote.start : quote.end] == quote.text


def test_seeds_make_one_brief_quoting_both_sources(
    seed_story: Story, offline_settings: Settings
) -> None:
    result = summarise(seed_story, offline_settings)
    assert result.engine == "extractive" and result.model is None
    assert_brief_invariants(result, offline_settings)
    fr = result.briefs["fr"]
    assert {q.source for q in fr.quotes} == {"S1", "S2"}
    assert 2 <= len(fr.quotes) <= 4 and fr.points
    assert result.citations.rejected == 0 and result.usage.calls == 0


def test_offline_brief_in_the_other_language_says_translation_needs_an_llm(
    seed_story: Story, offline_settings: Settings
) -> None:
    en = summarise(seed_story, offline_settings).briefs["en"]
    assert "LLM" in en.headline
    assert "French" in en.points[0]
    assert len(en.quotes) >= 2 and all(q.translation is None for q in en.quotes)


def test_english_story_gets_an_english_brief_and_a_french_note(
    offline_settings: Settings,
) -> None:
    text = (
        "The city council of Leeds approved a new budget on Tuesday after a long debate. "
        "\"We want every child to have a warm classroom and a hot meal at noon,\" said the "
        "mayor, Claire Martin, to the assembled councillors. The opposition criticised a "
        "three percent rise in local taxes, calling it unfair to modest families. Work will "
        "start in September in six schools in the city centre, the council said."
    )
    result = summarise(text_story(text, language="en"), offline_settings)
    assert "LLM" in result.briefs["fr"].headline and "anglais" in result.briefs["fr"].points[0]
    assert result.briefs["en"].points and "LLM" not in result.briefs["en"].headline
    assert_brief_invariants(result, offline_settings)


def test_every_orangesum_article_gives_checked_briefs(offline_settings: Settings) -> None:
    articles = orangesum()
    for article in articles:
        result = summarise(text_story(article["text"]), offline_settings)
        assert_brief_invariants(result, offline_settings)
        assert result.briefs["fr"].headline
        assert result.citations.rejected == 0


class ScriptedEngine:
    """An engine that proposes fixed drafts (our own interface, no outside world involved)."""

    name = "scripted"

    def __init__(self, briefs: dict[str, DraftBrief]) -> None:
        self.briefs = briefs
        self.feedback: list[Feedback] = []

    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        if feedback is not None:
            self.feedback.append(feedback)
        return Proposal(self.briefs, self.name, "scripted-model")


def scripted(points: list[str], quotes: list[str], headline: str = "Titre") -> dict[str, Any]:
    draft = DraftBrief(headline, tuple(points), tuple(DraftQuote(q, "S1") for q in quotes))
    return {"fr": draft, "en": draft}


def test_points_with_unknown_numbers_or_names_are_dropped(
    seed_story: Story, offline_settings: Settings
) -> None:
    points = [
        "Amazon conteste un contrat de 10 milliards de dollars.",  # kept: both in the source
        "Le contrat vaut 12 milliards de dollars.",  # dropped: 12 is in no source
        "Selon Satya Nadella, Microsoft est serein.",  # dropped: never named in the sources
    ]
    engine = ScriptedEngine(scripted(points, []))
    result = summarise(seed_story, offline_settings, engine)
    assert result.briefs["fr"].points == (points[0],)
    assert result.citations.points_dropped_numbers == 2  # fr and en briefs
    assert result.citations.points_dropped_names == 1  # the en brief does not check names
    assert result.briefs["en"].points == (points[0], points[2])


def test_rejected_quotes_are_sent_back_once_and_briefs_are_topped_up(
    seed_story: Story, offline_settings: Settings
) -> None:
    engine = ScriptedEngine(scripted(["Un point."], ["Mark Esper, ministre de la Défense, a dit"]))
    result = summarise(seed_story, offline_settings, engine)
    assert len(engine.feedback) == 1
    assert engine.feedback[0].rejected[0][1].text.startswith("Mark Esper")
    assert len(result.briefs["fr"].quotes) == offline_settings.brief.min_quotes
    assert result.citations.fallback == 2 * offline_settings.brief.min_quotes
    assert_brief_invariants(result, offline_settings)


def test_word_limit_keeps_the_first_points_that_fit(
    seed_story: Story, offline_settings: Settings
) -> None:
    long_point = " ".join(["Amazon"] * 50)
    engine = ScriptedEngine(scripted([long_point, long_point, "Amazon conteste."], []))
    result = summarise(seed_story, offline_settings, engine)
    assert result.briefs["fr"].points == (long_point,)
    assert_brief_invariants(result, offline_settings)


def test_loading_the_seed_files_keeps_the_typo_and_the_date(offline_settings: Settings) -> None:
    story = load_story([str(p) for p in SEEDS], offline_settings.fetch)
    assert "Mark Eper" in story.sources[0].text
    assert story.sources[1].published == "2020-02"
    assert not story.sources[1].text.startswith("date")


@pytest.mark.parametrize("engine_cls", [ExtractiveEngine])
def test_offline_engine_quotes_are_verbatim_by_construction(
    engine_cls: type[ExtractiveEngine], seed_story: Story, offline_settings: Settings
) -> None:
    proposal = engine_cls(offline_settings).propose(seed_story)
    for brief in proposal.briefs.values():
        for quote in brief.quotes:
            source = seed_story.source(quote.source)
            assert source is not None and quote.text in source.text


@pytest.mark.parametrize(
    "page",
    ["franceculture.fr.idees.html", "nationalgeographic.co.uk.goats.html",
     "reuters.com.parasite.html"],
)
def test_real_web_pages_give_checked_briefs(page: str, offline_settings: Settings) -> None:
    path = shared_path("corpus", "html", page)
    story = load_story([str(path)], offline_settings.fetch)
    result = summarise(story, offline_settings)
    assert_brief_invariants(result, offline_settings)
    own = result.briefs[story.language]
    assert own.points and len(own.quotes) >= offline_settings.brief.min_quotes
    assert all("<" not in q.text for q in own.quotes)  # no markup leaks into quotes


def test_a_page_rendered_by_javascript_has_no_article_text(offline_settings: Settings) -> None:
    # The stored page holds only an admin bar of template code: its article loads by script.
    page = FIXTURES / "lanouvellerepublique.fr.martin.html"
    with pytest.raises(ExtractionError, match="no article text"):
        load_story([str(page)], offline_settings.fetch)
