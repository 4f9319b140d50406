"""The limits of a brief, and numbers as written."""

from __future__ import annotations

from briefing.briefs.checks import SourceFacts, fit_words, unsupported_numbers
from briefing.briefs.models import Point
from briefing.config import BriefSettings

SOURCE = ("Le contrat JEDI, d'une valeur de 10 milliards de dollars, a été attribué à Microsoft. "
          "Le secrétaire à la Défense, Mark Esper, a nié tout parti pris. Le budget atteint "
          "1 250 000 euros, soit 3,5 % de plus qu'en 2019, selon l'AWS.")
FACTS = SourceFacts.of(SOURCE)


def test_numbers_match_across_thousands_and_decimal_marks() -> None:
    for point in ["10 milliards de dollars", "1,250,000 euros", "1250000 euros",
                  "a rise of 3.5%", "en 2019", "JEDI ($10bn)"]:
        assert unsupported_numbers(point, FACTS) == [], point


def test_invented_numbers_are_reported() -> None:
    assert unsupported_numbers("un contrat de 12 milliards", FACTS) == ["12"]
    assert unsupported_numbers("3,6 % de plus", FACTS) == ["3,6"]


def test_fit_words_keeps_leading_points_within_the_limit() -> None:
    cfg = BriefSettings(max_words=12, max_points=3)
    points = tuple(Point(text, ()) for text in
                   ("un deux trois quatre", "cinq six sept huit", "neuf dix onze douze"))
    assert fit_words("Titre court", points, cfg) == points[:2]
