"""Numbers as values, whatever their notation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from briefing.text.numbers import mentions, missing, values


@pytest.mark.parametrize(("text", "language", "value"), [
    ("10 milliards d'euros", "fr", "1e10"),
    ("10 Md€", "fr", "1e10"),
    ("10 billion euros", "en", "1e10"),
    ("$10bn", "en", "1e10"),
    ("10 billions d'euros", "fr", "1e13"),  # the French billion is a million millions
    ("1,5 million", "fr", "1.5e6"),
    ("1.5 million", "en", "1.5e6"),
    ("1 500 000 habitants", "fr", "1.5e6"),
    ("1\u202f500\u202f000 habitants", "fr", "1.5e6"),
    ("1,500,000 people", "en", "1.5e6"),
    ("trois millions", "fr", "3e6"),
    ("twelve", "en", "12"),
])
def test_every_notation_gives_its_value(text: str, language: str, value: str) -> None:
    assert Decimal(value) in values(text, language)


def test_ambiguous_separators_stand_for_both_readings() -> None:
    assert {Decimal("1.5"), Decimal("1500")} <= values("1,500", "fr")
    assert values("1,25", "fr") == {Decimal("1.25")}  # two decimals: no thousands reading


def test_a_single_letter_is_a_unit_or_a_scale() -> None:
    assert values("the 100m final", "en") == {Decimal("100"), Decimal("1e8")}


def test_articles_and_words_holding_digits_are_not_numbers() -> None:
    assert mentions("Il y a un an, S1 et le G7 se sont réunis.", "fr") == ()
    assert [m.raw for m in mentions("à 7h30 le 3 février 2020", "fr")] == ["7", "30", "3", "2020"]


def test_missing_reports_numbers_as_written() -> None:
    known = values("Le budget atteint 10 milliards en 2019.", "fr")
    assert missing("A $10bn budget in 2019", "en", known) == []
    assert missing("A $12bn budget in 2019", "en", known) == ["12bn"]
