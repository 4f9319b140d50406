"""Point checks: a point is delivered only when the sentences it cites say it."""

from __future__ import annotations

import pytest

from briefing.briefs.grounding import check_point, names, verify_points
from briefing.briefs.models import DraftPoint, Point, RejectedPoint, SentenceRef
from tests.conftest import text_story

S1 = ("Le contrat JEDI, d'une valeur de 10 milliards de dollars, a été attribué à Microsoft. "
      "Le secrétaire à la Défense, Mark Esper, a nié tout parti pris. "
      "Le budget atteint 1 250 000 euros, soit 3,5 % de plus qu'en 2019, selon Jeff Bezos.")
S2 = "Amazon conteste la décision devant la justice fédérale à Washington."
STORY = text_story(S1, S2)
SHARE = 0.6


def check(text: str, *refs: str, language: str = "fr") -> Point | RejectedPoint:
    support = tuple(SentenceRef(r.split(":")[0], int(r.split(":")[1])) for r in refs)
    return check_point(DraftPoint(text, support), language, STORY, SHARE)


def reason(outcome: Point | RejectedPoint) -> str:
    return outcome.reason if isinstance(outcome, RejectedPoint) else "supported"


def test_a_point_restating_its_sentence_is_supported_with_offsets() -> None:
    point = check("Le contrat JEDI, de 10 milliards de dollars, est attribué à Microsoft.", "S1:1")
    assert isinstance(point, Point)
    (support,) = point.support
    assert (support.source, support.sentence) == ("S1", 1)
    assert S1[support.start:support.end] == support.text
    assert support.text.startswith("Le contrat JEDI") and support.text.endswith("Microsoft.")


@pytest.mark.parametrize("text", [
    "The JEDI contract, worth $10bn, went to Microsoft.",
    "The JEDI contract, worth 10 billion dollars, went to Microsoft.",
    "The JEDI contract, worth $10,000,000,000, went to Microsoft.",
])
def test_numbers_match_in_any_notation(text: str) -> None:
    assert reason(check(text, "S1:1", language="en")) == "supported"


@pytest.mark.parametrize(("text", "language"), [
    ("Le contrat JEDI, de 10 billions de dollars, est attribué à Microsoft.", "fr"),  # 10^13
    ("Le contrat JEDI, de 12 milliards de dollars, est attribué à Microsoft.", "fr"),
    ("The JEDI contract, worth $10m, went to Microsoft.", "en"),
])
def test_a_changed_number_or_scale_is_rejected(text: str, language: str) -> None:
    assert reason(check(text, "S1:1", language=language)) == "numbers"


def test_a_number_must_be_in_the_cited_sentence_not_just_the_story() -> None:
    outcome = check("Le contrat JEDI attribué à Microsoft coûte 1 250 000 euros.", "S1:1")
    assert reason(outcome) == "numbers"
    assert isinstance(outcome, RejectedPoint) and "1 250 000" in outcome.hint
    assert reason(check("Le contrat JEDI attribué à Microsoft coûte 1 250 000 euros.",
                        "S1:1", "S1:3")) == "supported"


def test_a_name_swapped_for_another_of_the_story_is_rejected() -> None:
    outcome = check("Le secrétaire à la Défense, Jeff Bezos, a nié tout parti pris.", "S1:2")
    assert reason(outcome) == "names"
    assert isinstance(outcome, RejectedPoint) and "Jeff Bezos" in outcome.hint


def test_across_languages_names_are_checked_with_spelling_and_translation() -> None:
    assert reason(check("Defense Secretary Mark Esper denied any bias.", "S1:2",
                        language="en")) == "supported"
    assert reason(check("Amazon is challenging the decision in federal court in Washington.",
                        "S2:1", language="en")) == "supported"
    # Someone else of the story, and a full name the story never gives: not translations.
    assert reason(check("Defense Secretary Jeff Bezos denied any bias.", "S1:2",
                        language="en")) == "names"
    assert reason(check("Defense Secretary John Smith denied any bias.", "S1:2",
                        language="en")) == "names"


def test_a_claim_resting_on_a_sentence_that_says_something_else_is_rejected() -> None:
    outcome = check("Le secrétaire a nié tout parti pris dans l'attribution.", "S1:3")
    assert reason(outcome) == "words"
    assert isinstance(outcome, RejectedPoint) and "S1:2" in outcome.hint


def test_support_in_the_wrong_source_is_named() -> None:
    outcome = check("Amazon conteste la décision devant la justice fédérale.", "S1:1")
    assert reason(outcome) == "wrong_source"
    assert isinstance(outcome, RejectedPoint) and "S2:1" in outcome.hint


@pytest.mark.parametrize("refs", [("S1:9",), ("S3:1",), ("S1:0",), ("S1:1", "S1:4")])
def test_support_that_does_not_exist_is_rejected(refs: tuple[str, ...]) -> None:
    assert reason(check("Le contrat JEDI est attribué à Microsoft.", *refs)) == "unknown_sentence"


def test_a_point_with_no_support_is_rejected() -> None:
    assert reason(check("Le contrat JEDI est attribué à Microsoft.")) == "no_support"


def test_verify_points_keeps_order_drops_repeats_and_reports_rejections() -> None:
    good = DraftPoint("Le contrat JEDI est attribué à Microsoft.", (SentenceRef("S1", 1),))
    bad = DraftPoint("Le contrat JEDI vaut 11 milliards.", (SentenceRef("S1", 1),))
    checked = verify_points({"fr": ("fr", [good, bad, good])}, STORY, SHARE)
    assert [p.text for p in checked.points["fr"]] == [good.text]
    assert [(r.language, r.point, r.reason) for r in checked.rejected] == [("fr", bad, "numbers")]


def test_a_sentence_initial_common_word_is_not_a_name() -> None:
    assert names("Personne ne conteste le contrat de Microsoft.") == ["Microsoft"]
    assert names("Selon Mark Esper, le contrat tient.") == ["Mark Esper"]


ROADS = text_story("La circulation est coupée sur l'autoroute A10 et sur la D8 depuis lundi, "
                   "selon la préfecture. Le Zidane Five Club de Marseille accueille les "
                   "enfants du quartier chaque mercredi après-midi.")


def test_a_number_glued_to_letters_is_checked_as_a_name() -> None:
    def on_roads(text: str, language: str = "fr") -> str:
        outcome = check_point(DraftPoint(text, (SentenceRef("S1", 1),)), language, ROADS, SHARE)
        return reason(outcome)
    assert on_roads("La circulation est coupée sur l'autoroute A10 et sur la D8.") == "supported"
    assert on_roads("La circulation est coupée sur l'autoroute A17 et sur la D8.") == "names"
    assert on_roads("La circulation est coupée sur l'autoroute A10 et sur la D15.") == "names"
    assert on_roads("Traffic is cut on the A100 motorway.", "en") == "names"


def test_a_capitalised_number_word_in_a_name_is_no_number() -> None:
    point = DraftPoint("The Zidane Five Club in Marseille welcomes children every Wednesday.",
                       (SentenceRef("S1", 2),))
    assert reason(check_point(point, "en", ROADS, SHARE)) == "supported"


def test_an_untranslated_point_in_the_other_brief_has_its_words_compared() -> None:
    # French words in the English brief, citing a sentence that says something else.
    point = DraftPoint("Le secrétaire a nié tout parti pris dans cette affaire de contrat.",
                       (SentenceRef("S1", 3),))
    assert reason(check_point(point, "en", STORY, SHARE)) == "words"
