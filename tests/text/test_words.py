"""Tests of briefing.text.words: the one folding rule."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from briefing.text.words import fold


def loop_fold(text: str) -> str:
    """Folding as defined: lower case, NFKD, every combining mark dropped."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def test_french_accents_fold_away() -> None:
    assert fold("Élysée, Noël, ça, cœur") == "elysee, noel, ca, cœur"


@given(st.text())
def test_fold_drops_exactly_the_combining_marks(text: str) -> None:
    assert fold(text) == loop_fold(text)
