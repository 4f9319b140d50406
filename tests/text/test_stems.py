"""Content words reduced to their stems."""

from __future__ import annotations

from briefing.text.stems import stems


def test_inflections_share_a_stem_and_accents_fold() -> None:
    assert stems("annoncées", "fr") == stems("annonce", "fr")
    assert stems("announced", "en") == stems("announcement", "en")
    assert stems("élu", "fr") == stems("Elu", "fr")


def test_stop_words_short_words_and_elided_articles_carry_no_content() -> None:
    assert stems("Il a vu que l'entreprise et le maire", "fr") == stems("vu entreprise maire", "fr")
    assert stems("of the and it", "en") == ()
