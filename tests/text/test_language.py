"""Language detection on short news-like sentences (written for these tests)."""

from __future__ import annotations

import pytest

from briefing.text.language import detect_language

SAMPLES = [
    ("fr", "Le gouvernement a annoncé mardi une nouvelle réforme des retraites."),
    ("fr", "« Nous ne céderons pas », a déclaré la ministre devant les députés."),
    ("fr", "Les habitants du quartier se plaignent du bruit depuis plusieurs semaines."),
    ("en", "The government announced on Tuesday a new reform of the pension system."),
    ("en", "“We will not give in,” the minister told lawmakers on Wednesday."),
    ("en", "Residents of the neighbourhood have complained about the noise for weeks."),
    ("de", "Die Regierung hat am Dienstag eine neue Rentenreform angekündigt."),
    ("de", "„Wir werden nicht nachgeben“, sagte die Ministerin vor den Abgeordneten."),
    ("de", "Die Anwohner beschweren sich seit mehreren Wochen über den Lärm."),
]


@pytest.mark.parametrize(("expected", "text"), SAMPLES, ids=[f"{c}-{i}" for i, (c, _) in
                                                              enumerate(SAMPLES)])
def test_sentence_language(expected: str, text: str) -> None:
    assert detect_language(text) == expected


def test_answer_is_an_iso_639_1_code() -> None:
    code = detect_language("Ceci est une phrase en français, sans aucun doute possible.")
    assert code == "fr"
    assert isinstance(code, str)
    assert len(code) == 2
    assert code.islower()


def test_only_the_beginning_is_read() -> None:
    # The documented window is the first 5,000 characters: English after it does not count.
    french = "Le chat dort sur le canapé du salon pendant que la pluie tombe. " * 100
    assert len(french) > 5000
    english = "The quick brown fox jumps over the lazy dog while it rains outside. " * 500
    assert detect_language(french + english) == "fr"


@pytest.mark.parametrize(
    ("code", "reader", "name"),
    [("de", "fr", "allemand"), ("de", "en", "German"), ("en", "fr", "anglais"),
     ("fr", "en", "French"), ("fr", "fr", "français"), ("pt-BR", "en", "Portuguese")],
)
def test_languages_are_named_in_words_in_the_readers_language(
    code: str, reader: str, name: str
) -> None:
    from briefing.text.language import language_name

    assert language_name(code, reader) == name


def test_an_unknown_language_or_reader_never_gives_an_empty_name() -> None:
    from briefing.text.language import language_name

    assert language_name("xx", "fr") == "xx"
    assert language_name("de", "zz") == "German"
    assert language_name(None, "en") == "?"
