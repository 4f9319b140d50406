"""Which story a question is about: story scores that compare across stories, the choice
between close ones, and what reads as a question."""

from __future__ import annotations

import pytest

from briefing.qa.choice import Candidate, choose_story
from briefing.qa.retrieval import looks_like_question, story_scores
from briefing.sources.models import Story
from tests.conftest import NEWS, text_story

AMAZON = "Pourquoi Amazon poursuit-il Donald Trump en justice ?"


def news(key: str) -> Story:
    """One of the French local stories of the shared test news, as a one-source story."""
    return text_story(NEWS[key][1])


@pytest.fixture
def candidates(seed_story: Story) -> list[Candidate]:
    """The Amazon story first (as if sent last), then three French local stories."""
    return [Candidate(1, seed_story), Candidate(2, news("tram"), (NEWS["tram"][0],)),
            Candidate(3, news("glacier"), (NEWS["glacier"][0],)),
            Candidate(4, news("rail"), (NEWS["rail"][0],))]


def test_the_story_the_question_names_is_chosen(candidates: list[Candidate]) -> None:
    assert choose_story(candidates, AMAZON).clear == 1
    assert choose_story(candidates, "Combien coûteront les travaux du tramway ?").clear == 2
    assert choose_story(candidates, "Qu'a dit la glaciologue ?").clear == 3


def test_the_order_of_the_candidates_does_not_decide(candidates: list[Candidate]) -> None:
    assert choose_story(candidates[::-1], AMAZON).clear == 1
    assert choose_story(candidates[::-1], "Combien coûteront les travaux du tramway ?").clear == 2


def test_close_stories_are_all_offered_best_first(candidates: list[Candidate]) -> None:
    # Both the tram and the rail stories quote someone "lors d'une conférence de presse".
    choice = choose_story(candidates, "Qui a parlé lors d'une conférence de presse ?")
    assert set(choice.keys) == {2, 4} and choice.clear is None
    assert choice.scores[0] >= choice.scores[1] > 0


def test_nothing_shared_chooses_nothing(candidates: list[Candidate]) -> None:
    assert choose_story(candidates, "Quelle est la recette de la tarte aux pommes ?").keys == ()
    assert choose_story(candidates, "Pourquoi ?").keys == ()
    assert choose_story([], AMAZON).keys == ()


def test_a_headline_in_the_readers_language_bridges_languages() -> None:
    # The English question shares no word with the French text, only with an English headline.
    tram, rail = news("tram"), news("rail")
    question = "Why did the works stop?"
    assert story_scores([tram, rail], question) == [0.0, 0.0]
    tram_score, rail_score = story_scores([tram, rail], question,
                                          [("The Tours tramway works start again",), ()])
    assert tram_score > 0 and rail_score == 0


def test_a_word_only_one_story_has_outweighs_a_shared_one() -> None:
    # Both stories hold "conférence de presse"; only the tram story is in Tours.
    tram_score, rail_score = story_scores([news("tram"), news("rail")],
                                          "Et la conférence de presse à Tours ?")
    assert tram_score > rail_score > 0
    assert story_scores([news("tram"), news("rail")], "Et à Turin ?")[0] == 0


@pytest.mark.parametrize("text", [
    AMAZON, "Qui est Mark Esper", "Combien ça coûte", "Où en est le tramway", "Qu'a dit Augis",
    "Le Pentagone va-t-il revoir sa décision", "Est-ce que le tunnel est prêt",
    "Explique-moi le contrat JEDI", "Who won the contract", "What's JEDI", "how much",
    "Tell me about the glacier", "Is the tunnel ready", "Amazon contre Trump ?",
])
def test_questions_are_recognised(text: str) -> None:
    assert looks_like_question(text)


@pytest.mark.parametrize("text", [
    "Bonjour", "Merci beaucoup !", "Amazon contre Trump", "hello there", "thanks",
    "Le tramway de Tours", "ok", "",
])
def test_other_text_is_not_a_question(text: str) -> None:
    assert not looks_like_question(text)
