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


def test_threads_stem_as_one_thread_does() -> None:
    # Summaries and `briefing eval` check points in several threads at once.
    from concurrent.futures import ThreadPoolExecutor

    words = [f"{stem}{ending}" for stem in ("annonc", "décid", "financ", "rénov", "contest")
             for ending in ("é", "ée", "ées", "ement", "ations", "eront", "aient", "ons")]
    texts = [f"{a} {b} {c}" for a in words for b in words[:16] for c in words[:4]]
    expected = [stems(text, "fr") for text in texts]
    stems.cache_clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda text: stems(text, "fr"), texts))
    assert got == expected
