"""Keyword filters: whole words and phrases, whatever the case and accents."""

from __future__ import annotations

import pytest

from briefing.stories.filters import Filters, checked_phrase

TEXTS = ["Les prix de l'Énergie flambent en décembre", "Energy prices soar",
         "Le gouvernement promet un bouclier tarifaire"]


@pytest.mark.parametrize(("include", "kept"), [
    (("energie",), True),  # accents and case do not matter
    (("prix de l'énergie",), True),  # a phrase, in order
    (("l'énergie des prix",), False),  # ... not the same words in another order
    (("energy",), True),  # the English brief counts too
    (("tarif",), False),  # whole words: "tarif" is not "tarifaire"
    (("football", "bouclier"), True),  # one of them is enough
])
def test_include_keeps_a_story_holding_one_phrase(include: tuple[str, ...], kept: bool) -> None:
    assert Filters(include=include).keeps(TEXTS) is kept


def test_exclude_wins_over_include_and_no_filter_keeps_everything() -> None:
    assert not Filters(include=("énergie",), exclude=("bouclier tarifaire",)).keeps(TEXTS)
    assert Filters(exclude=("football",)).keeps(TEXTS)
    assert Filters().keeps(TEXTS) and not Filters().active


def test_phrases_are_words_never_patterns() -> None:
    assert checked_phrase("(.*)") is None  # no word: refused, never compiled
    assert checked_phrase("  prix   de  l'énergie ") == "prix de l'énergie"
    assert checked_phrase("un deux trois quatre cinq six sept") is None  # a sentence
    assert not Filters(include=("pri.*",)).keeps(TEXTS)  # "pri" is a word, "prix" another
