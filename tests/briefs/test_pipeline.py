"""The whole pipeline offline: seeds, the OrangeSum corpus, and the brief's limits."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from briefing.briefs.engines.extractive import ExtractiveEngine
from briefing.briefs.models import (
    DraftBrief,
    DraftPoint,
    DraftQuote,
    Feedback,
    Proposal,
    Result,
    SentenceRef,
)
from briefing.briefs.pipeline import has_sentence, summarise
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.sources.load import load_story
from briefing.sources.models import Story
from briefing.text.sentences import split_sentences
from briefing.text.words import word_count
from tests.conftest import FIXTURES, SEEDS, orangesum, shared_path, text_story


def assert_brief_invariants(result: Result, settings: Settings) -> None:
    """What every result must satisfy, whatever the engine."""
    cfg = settings.brief
    for lang, brief in result.briefs.items():
        assert brief.language == lang
        assert len(brief.points) <= cfg.max_points
        assert word_count(brief.headline) + sum(word_count(p.text) for p in brief.points) <= 90
        assert len(brief.quotes) <= cfg.max_quotes
        for point in brief.points:  # every point traceable to the sentences it rests on
            assert point.support
            for support in point.support:
                source = result.story.source(support.source)
                assert source is not None
                assert source.text[support.start : support.end] == support.text
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


def test_offline_brief_in_the_other_language_is_the_source_brief_untranslated(
    seed_story: Story, offline_settings: Settings
) -> None:
    result = summarise(seed_story, offline_settings)
    fr, en = result.briefs["fr"], result.briefs["en"]
    assert fr.original_language is None
    assert en.original_language == "fr"
    assert (en.headline, en.points) == (fr.headline, fr.points)
    assert "LLM" not in en.headline and en.points
    assert len(en.quotes) >= 2 and all(q.translation is None for q in en.quotes)
    assert result.to_dict()["briefs"]["en"]["original_language"] == "fr"


def test_english_story_gets_an_english_brief_and_the_same_brief_for_french_readers(
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
    en, fr = result.briefs["en"], result.briefs["fr"]
    assert en.points and en.original_language is None
    assert fr.original_language == "en" and (fr.headline, fr.points) == (en.headline, en.points)
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


def scripted(points: list[str | tuple[str, str]], quotes: list[str],
             headline: str = "Titre") -> dict[str, Any]:
    """Drafts for both languages; a point is its text, or (text, "S1:2") with its support."""
    drafts = []
    for point in points:
        text, ref = (point, None) if isinstance(point, str) else point
        support = () if ref is None else (SentenceRef(ref.split(":")[0], int(ref.split(":")[1])),)
        drafts.append(DraftPoint(text, support))
    draft = DraftBrief(headline, tuple(drafts), tuple(DraftQuote(q, "S1") for q in quotes))
    return {"fr": draft, "en": draft}


TOURS = text_story(
    "Le conseil municipal de Tours a voté mardi un budget de 12 millions d'euros pour les "
    "écoles. La maire, Claire Martin, a salué un vote historique devant les élus. "
    "L'opposition, menée par Paul Durand, a dénoncé une hausse des impôts de 3 %. "
    "Les travaux commenceront en septembre dans six écoles du centre-ville.")


def test_points_are_checked_against_the_sentences_they_cite(offline_settings: Settings) -> None:
    points: list[str | tuple[str, str]] = [
        ("Tours vote un budget de 12 millions d'euros pour les écoles.", "S1:1"),  # kept
        ("Tours vote un budget de 15 millions d'euros pour les écoles.", "S1:1"),  # numbers
        ("Le maire, Paul Durand, a salué un vote historique.", "S1:2"),  # a swapped name
        ("Les travaux commenceront en septembre dans six écoles.", "S1:9"),  # no such sentence
        "Les travaux commenceront en septembre.",  # no support
    ]
    engine = ScriptedEngine(scripted(points, []))
    result = summarise(TOURS, offline_settings, engine)
    fr = result.briefs["fr"]
    assert [p.text for p in fr.points] == [points[0][0]]
    assert [(s.source, s.sentence) for s in fr.points[0].support] == [("S1", 1)]
    c = result.citations
    assert c.points_proposed == 10 and c.points_retried == 8  # 4 a brief, sent back once
    assert (c.points_supported, c.points_dropped) == (2, 8)
    assert (c.points_dropped_numbers, c.points_dropped_names, c.points_dropped_unknown_sentence,
            c.points_dropped_no_support) == (2, 2, 2, 2)
    # The retry said why each point failed; the retry answered the same, so they stay out.
    (feedback,) = engine.feedback
    assert [r.reason for r in feedback.rejected_points if r.language == "fr"] == [
        "numbers", "names", "unknown_sentence", "no_support"]
    assert {r.reason for r in result.rejected_points} == {
        "numbers", "names", "unknown_sentence", "no_support"}
    assert_brief_invariants(result, offline_settings)


def test_a_brief_left_with_no_point_gets_the_offline_points(offline_settings: Settings) -> None:
    engine = ScriptedEngine(scripted([("Le budget vaut 40 millions d'euros.", "S1:1")], []))
    result = summarise(TOURS, offline_settings, engine)
    offline = summarise(TOURS, offline_settings)
    fr = result.briefs["fr"]
    assert fr.points and fr.points == offline.briefs["fr"].points
    assert fr.headline == offline.briefs["fr"].headline  # the model's stood on its points
    assert result.citations.points_fallback == 2 * len(fr.points)
    assert any("offline engine's points" in note for note in result.notes)
    assert result.withheld is None
    assert_brief_invariants(result, offline_settings)


def test_a_retry_that_fixes_its_points_is_used() -> None:
    class Fixing(ScriptedEngine):
        def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
            if feedback is not None:
                self.feedback.append(feedback)
                return Proposal(scripted([("Tours vote 12 millions d'euros pour les écoles.",
                                           "S1:1")], []), self.name, "scripted-model")
            return super().propose(story)

    settings = Settings.model_validate({})
    engine = Fixing(scripted([("Tours vote 13 millions d'euros pour les écoles.", "S1:1")], []))
    result = summarise(TOURS, settings, engine)
    assert [p.text for p in result.briefs["fr"].points] == [
        "Tours vote 12 millions d'euros pour les écoles."]
    c = result.citations
    assert (c.points_retried, c.points_supported, c.points_dropped, c.points_fallback) == (
        2, 2, 0, 0)


def test_rejected_quotes_are_sent_back_once_and_briefs_are_topped_up(
    seed_story: Story, offline_settings: Settings
) -> None:
    engine = ScriptedEngine(scripted([("Amazon conteste le contrat.", "S1:1")],
                                     ["Mark Esper, ministre de la Défense, a dit"]))
    result = summarise(seed_story, offline_settings, engine)
    assert len(engine.feedback) == 1
    assert engine.feedback[0].rejected[0][1].text.startswith("Mark Esper")
    assert len(result.briefs["fr"].quotes) == offline_settings.brief.min_quotes
    assert result.citations.fallback == 2 * offline_settings.brief.min_quotes
    assert_brief_invariants(result, offline_settings)


def test_word_limit_keeps_the_first_points_that_fit(offline_settings: Settings) -> None:
    long_point = ("Le conseil municipal de Tours a voté mardi, après un long débat, un budget "
                  "de 12 millions d'euros pour les écoles de la ville, que la maire a défendu "
                  "devant les élus et que les parents attendaient depuis des années, pour "
                  "rénover les classes, les cantines et les cours de récréation.")
    points: list[str | tuple[str, str]] = [
        (long_point, "S1:1"), (long_point.replace("mardi, ", ""), "S1:1"),
        ("Les travaux commenceront en septembre.", "S1:4")]
    settings = offline_settings.model_copy(update={"brief": offline_settings.brief.model_copy(
        update={"point_word_share": 0.2})})
    result = summarise(TOURS, settings, ScriptedEngine(scripted(points, [])))
    assert [p.text for p in result.briefs["fr"].points] == [long_point]
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


# --- nothing is delivered silently -------------------------------------------------------

ONE_SENTENCE = "Le conseil municipal de Tours a voté jeudi soir le budget de la ville pour 2024."


def test_a_huge_line_without_punctuation_is_withheld_and_finishes(
    offline_settings: Settings
) -> None:
    # 5 MB in one line, no end punctuation: a splitter or ranker that is quadratic on it, or
    # that keeps a copy per word, would not return; the brief must say why it is withheld.
    line = "le gouvernement a annoncé une nouvelle loi sur les retraites "
    text = (line * (5_000_000 // len(line))).strip()
    assert len(split_sentences(text)) == 1 and not has_sentence(text)
    result = summarise(text_story(text), offline_settings)
    assert result.withheld is not None and "no sentence" in result.withheld
    assert result.notes[-1] == f"withheld from readers: {result.withheld}"
    assert result.to_dict()["withheld"] == result.withheld


def test_a_brief_with_too_few_quotes_is_withheld(offline_settings: Settings) -> None:
    # One sentence can give one quote at most; the brief promises brief.min_quotes (2).
    engine = ScriptedEngine(scripted([("Le conseil municipal de Tours a voté le budget.",
                                       "S1:1")], []))
    result = summarise(text_story(ONE_SENTENCE), offline_settings, engine)
    assert [len(b.quotes) for b in result.briefs.values()] == [1, 1]
    assert result.withheld == (
        "the fr brief has 1 checked quote, fewer than brief.min_quotes (2); "
        "the en brief has 1 checked quote, fewer than brief.min_quotes (2)")
    # With no minimum, the same brief may reach readers.
    relaxed = offline_settings.model_copy(update={
        "brief": offline_settings.brief.model_copy(update={"min_quotes": 0})})
    assert summarise(text_story(ONE_SENTENCE), relaxed, engine).withheld is None


def test_a_brief_with_no_point_anywhere_is_withheld(offline_settings: Settings) -> None:
    # The model's points fail, and the offline engine finds no sentence to state either
    # (a bare quotation, no statement of the outlet's own).
    story = text_story("« Nous tiendrons parole, toujours et partout, devant tous les élus ! »")
    engine = ScriptedEngine(scripted([("Le contrat vaut 12 milliards.", "S1:1")], []))
    result = summarise(story, offline_settings, engine)
    assert all(not b.points for b in result.briefs.values())
    assert result.withheld is not None and "the fr brief has no point" in result.withheld


def test_a_good_brief_is_not_withheld(seed_story: Story, offline_settings: Settings) -> None:
    result = summarise(seed_story, offline_settings)
    assert result.withheld is None
    assert not any("withheld" in note for note in result.notes)


def test_how_a_source_was_read_reaches_the_notes(
    seed_story: Story, offline_settings: Settings
) -> None:
    note = "old.txt: not UTF-8; decoded as cp1252 (detected by charset-normalizer)"
    first = dataclasses.replace(seed_story.sources[0], notes=(note,))
    story = Story((first, *seed_story.sources[1:]))
    result = summarise(story, offline_settings)
    assert result.notes[0] == note
    assert result.to_dict()["notes"][0] == note


def test_sentences_are_told_from_runs_of_text() -> None:
    assert has_sentence("Un titre\nLe conseil a voté le budget. Puis il a levé la séance")
    assert has_sentence("« Nous avons voté le budget. »")
    assert not has_sentence("un titre\nune ligne sans point\nune autre")
    assert not has_sentence("mot " * 1000 + "fin.")  # 5,000 characters is no sentence


# --- the offline brief reads like a brief ------------------------------------------


def _sentences_of(story: Story) -> set[str]:
    from briefing.text.sentences import split_sentences

    return {d.text[s.start : s.end] for d in story.sources for s in split_sentences(d.text)}


def test_offline_points_are_whole_sentences_and_quotes_whole_passages(
    offline_settings: Settings,
) -> None:
    from briefing.text.marks import is_balanced

    for article in orangesum():
        story = text_story(article["text"])
        brief = summarise(story, offline_settings).briefs["fr"]
        sentences = _sentences_of(story)
        for point in brief.points:
            assert not point.text.endswith(("…", "...")), point
            assert point.text in sentences, point  # a whole sentence of the source, verbatim
            assert [s.text for s in point.support] == [point.text]  # which cites itself
            assert is_balanced(point.text), point
        assert is_balanced(brief.headline) and not brief.headline.rstrip().endswith(":")
        for quote in brief.quotes:
            assert is_balanced(quote.text), quote.text
            assert quote.text[0].isalnum() or quote.text[0] in "«“\"", quote.text


def test_points_fit_the_word_limit_by_choosing_fewer_whole_sentences(
    offline_settings: Settings,
) -> None:
    text = (
        "Le conseil municipal de Lyon a voté mardi soir, après un long débat entre les élus de "
        "la majorité et ceux de l'opposition, un budget de deux millions d'euros pour les écoles. "
        "Les travaux de rénovation commenceront en septembre prochain dans six écoles du "
        "centre-ville de Lyon, qui accueillent ensemble près de deux mille élèves chaque jour. "
        "Le maire de Lyon a salué devant la presse un vote historique pour les écoles de la ville "
        "et pour les familles, qui attendaient ces travaux depuis des années. "
        "L'opposition municipale a critiqué une hausse de trois pour cent des impôts locaux, "
        "jugée injuste pour les familles modestes de la ville, et a voté contre le budget."
    )
    settings = offline_settings.model_copy(
        update={"brief": offline_settings.brief.model_copy(update={"max_words": 70})})
    brief = summarise(text_story(text), settings).briefs["fr"]
    sentences = _sentences_of(text_story(text))
    assert brief.points and brief.headline in sentences
    assert all(p.text in sentences for p in brief.points)  # whole sentences, none cut
    assert word_count(brief.headline) + sum(word_count(p.text) for p in brief.points) <= 70


def test_the_headline_is_the_title_when_there_is_one(offline_settings: Settings) -> None:
    from briefing.sources.models import Document

    title = ("Lyon vote deux millions d'euros pour rénover six écoles du centre-ville dès la "
             "rentrée de septembre")
    doc = Document("S1", ORANGE_LIKE, "fr", title=title)
    brief = summarise(Story((doc,)), offline_settings).briefs["fr"]
    assert brief.headline == title


ORANGE_LIKE = (
    "Voici ce qu'il faut retenir de la séance :\n\n"
    "\"Nous allons rénover toutes les écoles de la ville avant la fin du mandat. Nous tiendrons "
    "parole\", a promis le maire lors de la séance du conseil, mardi soir. "
    "Le conseil municipal de Lyon a voté mardi un budget de deux millions d'euros pour les "
    "écoles du centre-ville. \"C'est un vote historique pour nos enfants\", a déclaré le maire "
    "devant les élus réunis. Les travaux commenceront en septembre dans six écoles de la "
    "ville.L'opposition a critiqué une hausse des impôts locaux jugée injuste pour les familles."
)


def test_a_headline_without_title_states_the_news(offline_settings: Settings) -> None:
    brief = summarise(text_story(ORANGE_LIKE), offline_settings).briefs["fr"]
    # Not the lead-in, nor a quotation left open: the first sentence that states the news.
    assert brief.headline == ("Le conseil municipal de Lyon a voté mardi un budget de deux "
                              "millions d'euros pour les écoles du centre-ville.")
    assert not any(p.text.endswith(":") or p.text.startswith('"Nous allons')
                   for p in brief.points)


def test_a_source_in_german_is_briefed_and_said_to_be_in_german(
    offline_settings: Settings,
) -> None:
    text = (
        "Der Stadtrat von Leipzig hat am Dienstag nach langer Debatte einen neuen Haushalt "
        "beschlossen. \"Wir wollen, dass jedes Kind ein warmes Klassenzimmer hat\", sagte die "
        "Bürgermeisterin Claudia Krause vor den Abgeordneten. Die Opposition kritisierte eine "
        "Erhöhung der Gemeindesteuern um drei Prozent als ungerecht für Familien. Die Arbeiten "
        "beginnen im September in sechs Schulen der Innenstadt, teilte die Stadt mit."
    )
    result = summarise(text_story(text, language="de"), offline_settings)
    assert set(result.briefs) == {"fr", "en"}
    for brief in result.briefs.values():
        assert brief.original_language == "de"
        assert brief.points and brief.headline.startswith("Der Stadtrat von Leipzig")
        assert len(brief.quotes) >= 2
    assert result.withheld is None
