"""Tests of briefing.text.catalogue: every word a reader sees, in French and English."""

from __future__ import annotations

import re
from string import Formatter

import pytest

from briefing.text.catalogue import LANGUAGES, catalogue, has_text, text

# Words that are English and not French: one of them in a French message means a text
# was left untranslated (names of languages and places are not in this list).
ENGLISH = {"the", "and", "your", "you", "with", "please", "error", "limit", "reached",
           "feeds", "settings", "story", "stories", "cannot", "could", "not", "this",
           "that", "more", "see", "latest", "ask", "question", "translation", "summary",
           "digest", "page", "of", "in", "to", "for", "is", "are", "reply"}
ALLOWED_IN_FRENCH = {"page", "question", "digest"}  # French words too (or the product's term)


def fields(message: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(message) if name}


def test_both_languages_have_every_message_with_the_same_values() -> None:
    fr, en = catalogue("fr"), catalogue("en")
    assert len(en) > 100 and set(fr) == set(en)
    assert [key for key in en if fields(fr[key]) != fields(en[key])] == []


def test_french_messages_carry_no_english() -> None:
    english = ENGLISH - ALLOWED_IN_FRENCH
    leaks = {}
    for key, message in catalogue("fr").items():
        plain = re.sub(r"\{\w+\}|/\w+|https?://\S+", " ", message)  # values, commands, links
        words = {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ']+", plain)}
        if words & english:
            leaks[key] = sorted(words & english)
    assert leaks == {}


def test_a_message_is_filled_and_a_missing_value_fails_loudly() -> None:
    assert text("failure_http_status", "fr", status=404) == (
        "Cette page est inaccessible (erreur 404).")
    with pytest.raises(KeyError):
        text("failure_http_status", "fr")
    with pytest.raises(KeyError):
        text("no such message", "en")


def test_another_language_reads_english() -> None:
    assert text("failure_unknown", "de") == text("failure_unknown", "en")
    assert set(LANGUAGES) == {"fr", "en"} and has_text("welcome")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_message_is_defined_twice(lang: str) -> None:
    # A second msgid silently replaces the first: two texts meant for two places become one.
    from collections import Counter

    from briefing.text.catalogue import LOCALE_DIR

    po = (LOCALE_DIR / lang / "LC_MESSAGES" / "briefing.po").read_text(encoding="utf-8")
    counts = Counter(re.findall(r'^msgid "(.+)"$', po, re.M))
    assert [key for key, n in counts.items() if n > 1] == []
