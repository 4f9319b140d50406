"""Tests of briefing.stories.novelty: what joined sources say that the earlier ones do not."""

from __future__ import annotations

from briefing.stories.novelty import Novelty, Text, novelty
from tests.conftest import NEWS

_, TRAM = NEWS["tram"]
EARLIER = (Text(TRAM, "fr"),)


def test_a_retelling_with_its_own_lead_is_mostly_known() -> None:
    joined = Text("Ouest-France reprend le récit publié ce matin. " + TRAM, "fr")
    found = novelty(EARLIER, [joined])
    assert (found.new, found.changed) == (1, 0)  # only the lead
    assert found.sentences == 8 and not found.brings_news(0.25)  # 7 of the text, 1 lead


def test_reordered_and_lightly_edited_sentences_are_known() -> None:
    joined = Text("La métropole a annoncé lundi que le chantier du tramway de Tours avait "
                  "repris après huit mois d'arrêt. L'opposition dénonce ce dérapage.", "fr")
    assert novelty(EARLIER, [joined]) == Novelty(2, 0, 0)


def test_a_retold_sentence_with_another_figure_is_news_whatever_its_share() -> None:
    joined = Text(TRAM.replace("48 millions", "61 millions"), "fr")
    found = novelty(EARLIER, [joined])
    assert (found.new, found.changed) == (1, 1)
    assert found.share < 0.25 and found.brings_news(0.25)


def test_new_facts_are_new_and_another_language_is_news() -> None:
    facts = Text("Une seconde ligne vers Joué-lès-Tours sera étudiée l'an prochain. "
                 "Les commerçants du centre demandent des indemnités.", "fr")
    assert novelty(EARLIER, [facts]) == Novelty(2, 2, 0)
    english = Text("Works on the Tours tramway resumed on Monday, the metropolis said.", "en")
    assert novelty(EARLIER, [english]).share == 1.0


def test_nothing_to_compare_is_no_news_unless_the_threshold_is_zero() -> None:
    found = novelty(EARLIER, [Text("12/03", "fr")])
    assert found == Novelty(0, 0, 0) and found.share == 0.0
    assert not found.brings_news(0.25) and found.brings_news(0.0)
