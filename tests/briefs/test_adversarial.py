"""Misleading models: points that read well and cite real-looking sentences, but that the
sentences they cite do not say. Each must be retried or dropped, never delivered.

The model is the fake OpenAI-compatible server driven by the real `openai` client; its
answers are built from each request (tests/fakes/briefs.py): quotes stay verbatim, the
points are wrong in one way per mode.
"""

from __future__ import annotations

import pytest

from briefing.briefs.models import Result
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.sources.models import Story
from tests.conftest import text_story
from tests.fakes.briefs import (
    ADVERSARIAL_MODES,
    adversarial_answer,
    adversarial_points,
    good_answer,
)
from tests.fakes.openai_server import FakeOpenAI, Reply

TOURS = text_story(
    "Le conseil municipal de Tours a voté mardi un budget de 12 millions d'euros pour les "
    "écoles, a annoncé la maire Claire Martin. "
    "L'opposition, menée par Paul Durand, a dénoncé une hausse des impôts de 3 % jugée injuste. "
    "Les travaux commenceront en septembre dans six écoles du centre-ville de Tours.",
    "Selon le préfet Jean Moulinier, la ville recevra aussi une aide de l'État pour les cantines "
    "scolaires dès la rentrée prochaine.")
# Why each mode's points fail, as the check names it.
EXPECTED = {"swap_name": {"names"}, "change_number": {"numbers"},
            "wrong_sentence": {"words", "names", "numbers"}, "bad_ids": {"unknown_sentence"},
            "no_support": {"no_support"}, "wrong_source": {"wrong_source"}}


Claim = tuple[str, tuple[str, ...]]  # a point's text and the sentence ids it cites


def delivered(result: Result) -> set[Claim]:
    return {(p.text, tuple(f"{s.source}:{s.sentence}" for s in p.support))
            for brief in result.briefs.values() for p in brief.points}


def misleading(fake: FakeOpenAI, story: Story, mode: str) -> list[Claim]:
    """The points the misleading model sends for `story` in each brief (from its first
    request; the retry repeats them)."""
    probe: list[Claim] = []

    def record(request: dict[str, object]) -> Reply:
        if not probe:
            probe.extend((p["text"], tuple(p["support"]))
                         for p in adversarial_points(request, mode))
        return Reply.content(adversarial_answer(mode)(request))
    fake.default = record
    return probe


@pytest.mark.parametrize("mode", ADVERSARIAL_MODES)
def test_a_stubborn_misleading_model_never_reaches_a_reader(
    mode: str, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    probe = misleading(fake_openai, TOURS, mode)
    result = summarise(TOURS, llm_settings)
    bad = set(probe)
    assert bad, f"the story gives {mode} nothing to mislead with"
    assert result.engine == "llm" and fake_openai.calls == 2  # one retry, with the reasons
    retry = fake_openai.requests[1].json["messages"][-1]["content"]
    assert all(text in retry for text, _ in bad)
    assert not bad & delivered(result)  # (an offline point may state the same sentence,
    # citing itself: that is the right support)
    assert {r.reason for r in result.rejected_points} <= EXPECTED[mode]
    c = result.citations
    assert c.points_retried == c.points_dropped == c.points_proposed == 2 * len(probe)
    # Left with no point, each brief has the offline engine's, which cite themselves.
    offline = summarise(TOURS, llm_settings.model_copy(
        update={"llm": llm_settings.llm.model_copy(update={"engine": "extractive"})}))
    assert delivered(result) == delivered(offline) and c.points_fallback > 0
    assert result.withheld is None


@pytest.mark.parametrize("mode", ADVERSARIAL_MODES)
def test_a_model_that_fixes_its_points_on_the_retry_is_delivered(
    mode: str, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.default = lambda req: Reply.content(adversarial_answer(
        mode, fix_on_retry=True)(req))
    result = summarise(TOURS, llm_settings)
    c = result.citations
    assert fake_openai.calls == 2 and c.points_retried > 0
    assert c.points_dropped == 0 and c.points_fallback == 0 and c.points_supported > 0
    for brief in result.briefs.values():
        for point in brief.points:
            assert [s.text for s in point.support] == [point.text]  # the careful model's


def test_a_good_model_is_never_retried(fake_openai: FakeOpenAI, llm_settings: Settings) -> None:
    fake_openai.default = lambda req: Reply.content(good_answer(req))
    result = summarise(TOURS, llm_settings)
    c = result.citations
    assert fake_openai.calls == 1 and c.points_retried == 0 and c.points_dropped == 0
    assert c.points_supported == c.points_proposed == 4


def test_an_english_point_on_a_french_source_is_checked_on_names_and_numbers(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    def english(request: dict[str, object]) -> Reply:
        import json

        answer = json.loads(good_answer(request))
        answer["en"]["points"] = [
            {"text": "Tours council voted a €12m school budget, said mayor Claire Martin.",
             "support": ["S1:1"]},  # kept: its number and names are in S1:1
            {"text": "Tours council voted a €15m school budget.", "support": ["S1:1"]},
            {"text": "Mayor Paul Durand hailed the vote.", "support": ["S1:1"]},
        ]
        return Reply.json(answer)
    fake_openai.default = english
    result = summarise(TOURS, llm_settings)
    assert [p.text for p in result.briefs["en"].points] == [
        "Tours council voted a €12m school budget, said mayor Claire Martin."]
    assert sorted(r.reason for r in result.rejected_points) == ["names", "numbers"]
