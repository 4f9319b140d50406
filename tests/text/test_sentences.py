"""Sentence splitting: exact offsets, trimmed spans, French and English conventions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefing.text.sentences import Span, split_sentences
from tests.conftest import SEEDS


def texts(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def check_partition(text: str, spans: list[Span]) -> None:
    """Spans are trimmed, non-empty, in order, disjoint, and cover every non-space char."""
    previous_end = 0
    for span in spans:
        assert 0 <= span.start < span.end <= len(text), span
        assert span.start >= previous_end, f"{span} overlaps or precedes the span before"
        # Between two spans there is only whitespace.
        assert text[previous_end : span.start].strip() == "", (previous_end, span)
        assert not text[span.start].isspace(), f"{span} starts with whitespace"
        assert not text[span.end - 1].isspace(), f"{span} ends with whitespace"
        previous_end = span.end
    assert text[previous_end:].strip() == ""
    # Every non-whitespace character is covered exactly once.
    covered = [0] * len(text)
    for span in spans:
        for i in range(span.start, span.end):
            covered[i] += 1
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert covered[i] == 1, (i, ch, covered[i])
    non_space = sum(1 for ch in text if not ch.isspace())
    assert sum(1 for span in spans for ch in text[span.start : span.end] if not ch.isspace()) == (
        non_space
    )


# --- seeds -------------------------------------------------------------------


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seed_is_partitioned_into_sentences(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    spans = split_sentences(text)
    check_partition(text, spans)
    # Each seed is a multi-paragraph article: many sentences, none of them gigantic.
    paragraphs = [p for p in text.split("\n") if p.strip()]
    assert len(spans) >= len(paragraphs) >= 5
    assert max(s.end - s.start for s in spans) < 1000


def test_seed_000_known_sentences() -> None:
    text = SEEDS[0].read_text(encoding="utf-8")
    sentences = texts(text)
    assert sentences[0] == (
        "Entre Donald Trump et Jeff Bezos il y a sans doute plus que de l'électricité dans l'air."
    )
    assert sentences[1].startswith("Surtout depuis que la décision")
    assert sentences[1].endswith("dans le cloud Azure.")
    # A heading line without final punctuation is a sentence of its own.
    assert "Le ministère de la Défense vent debout contre des dépositions" in sentences
    # The closing guillemet stays at the end of the quote's sentence.
    closing = [s for s in sentences if s.endswith("politiques ».")]
    assert len(closing) == 1
    assert closing[0].startswith("La question est de savoir")


def test_seed_001_starts_with_metadata_and_keeps_curly_quotes() -> None:
    text = SEEDS[1].read_text(encoding="utf-8")
    sentences = texts(text)
    # Eight paragraphs; only the last one holds two sentences (counted by hand).
    assert len(sentences) == 9
    assert sentences[-2].endswith("conflit d’intérêts.")
    assert sentences[-1].startswith("Le secrétaire à la Défense, Mark Esper")
    assert sentences[0].startswith("date 2020-02 Amazon Web Services")
    assert sentences[0].endswith("pour rivaliser avec Microsoft.")
    # Curly closing quote followed by the full stop ends the sentence, quote included.
    assert any(s.endswith("de visser Amazon”.") for s in sentences)
    assert not any(s.startswith(("”", "’", "»")) for s in sentences)


# --- abbreviations and initials ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "M. Dupont est arrivé hier. Il a parlé longtemps.",
            ["M. Dupont est arrivé hier.", "Il a parlé longtemps."],
        ),
        (
            "Mme Durand a répondu. Puis elle est partie.",
            ["Mme Durand a répondu.", "Puis elle est partie."],
        ),
        (
            "Selon Mme. Durand, tout va bien. La suite demain.",
            ["Selon Mme. Durand, tout va bien.", "La suite demain."],
        ),
        (
            "J. Smith wrote the report. Then he left.",
            ["J. Smith wrote the report.", "Then he left."],
        ),
        (
            "Le Dr. Martin et MM. Blanc et Noir sont venus. Ensuite ?",
            ["Le Dr. Martin et MM. Blanc et Noir sont venus.", "Ensuite ?"],
        ),
        (
            "Interrogé par J. R. R. Tolkien, il a souri. Fin.",
            ["Interrogé par J. R. R. Tolkien, il a souri.", "Fin."],
        ),
        (
            "U.S. officials met on Monday. They agreed.",
            ["U.S. officials met on Monday.", "They agreed."],
        ),
        (
            "Le prix est de 3.5 euros. C'est cher.",
            ["Le prix est de 3.5 euros.", "C'est cher."],
        ),
    ],
)
def test_abbreviations_and_initials_do_not_split(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_lowercase_continuation_does_not_split() -> None:
    text = "Il a dit non. et puis il est parti."
    assert texts(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wow!!! Really?! Yes.", ["Wow!!!", "Really?!", "Yes."]),
        ("Et alors… Personne ne sait.", ["Et alors…", "Personne ne sait."]),
        ("Vraiment ? Oui ! D'accord.", ["Vraiment ?", "Oui !", "D'accord."]),
    ],
)
def test_other_end_punctuation(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


# --- quotes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "He said “I am here.” Then he left.",
            ["He said “I am here.”", "Then he left."],
        ),
        (
            "Il a parlé de « la fin ». Puis il est parti.",
            ["Il a parlé de « la fin ».", "Puis il est parti."],
        ),
        (
            "Il a dit qu’il viendrait. Elle a répondu “peut-être.” Ensuite rien.",
            ["Il a dit qu’il viendrait.", "Elle a répondu “peut-être.”", "Ensuite rien."],
        ),
        (
            "She said \"Go.\" Then she left.",
            ["She said \"Go.\"", "Then she left."],
        ),
        (
            "« Je viens », a-t-il dit. « Attendez-moi. »",
            ["« Je viens », a-t-il dit.", "« Attendez-moi. »"],
        ),
        (
            "Il l'a dit. « Nous verrons. »",
            ["Il l'a dit.", "« Nous verrons. »"],
        ),
    ],
)
def test_closing_quotes_stay_with_their_sentence(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
def test_spaced_closing_guillemet_ends_sentence(space: str) -> None:
    # French typography puts a (no-break) space before the closing guillemet.
    text = f"« Je viens.{space}» Il est parti. Il a dit « oui !{space}» Rien de plus."
    assert texts(text) == [
        f"« Je viens.{space}»",
        "Il est parti.",
        f"Il a dit « oui !{space}»",
        "Rien de plus.",
    ]


def test_spaced_guillemet_before_lowercase_does_not_split() -> None:
    text = "« Je viens. » a-t-il dit. Puis il est parti."
    assert texts(text) == ["« Je viens. » a-t-il dit.", "Puis il est parti."]


def test_spaced_guillemet_never_starts_a_sentence() -> None:
    # Whatever happens to the boundary, the closing mark must not open the next sentence.
    text = "Il a dit : « Je viens. » Puis il est parti. « Bien. » Fin."
    sentences = texts(text)
    assert not any(s.startswith("»") for s in sentences)
    check_partition(text, split_sentences(text))


# --- newlines ------------------------------------------------------------------


def test_newlines_split_paragraphs_and_lines() -> None:
    text = "Titre sans point\n\nPremier paragraphe. Deuxième phrase.\n\n\nDernier\nmot"
    assert texts(text) == [
        "Titre sans point",
        "Premier paragraphe.",
        "Deuxième phrase.",
        "Dernier",
        "mot",
    ]


def test_crlf_and_indentation_are_trimmed() -> None:
    text = "  Une ligne.  \r\n\r\n   Une autre ligne.   "
    spans = split_sentences(text)
    assert texts(text) == ["Une ligne.", "Une autre ligne."]
    assert spans[0].start == 2
    check_partition(text, spans)


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \n", "\u00a0\u2003"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_text_without_punctuation_is_one_sentence() -> None:
    text = "  juste quelques mots sans ponctuation  "
    assert split_sentences(text) == [Span(2, len(text) - 2)]


# --- property ------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "M.", "Mme", "J.", "Dupont", "le", "Le", "chat", "U.S.", "etc.", "3.5", "Été",
        ".", "!", "?", "…", "...", "?!", "«", "»", "“", "”", "‘", "’", "\"", "'", "(", ")",
        "[", "]", "—", "-", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "\u202f",
        "\u200b", "\u200d", "\ufeff", "\u2028", "e\u0301", "\u0301", "\u0327", "😀", "👍🏽",
        "👨‍👩‍👧", "مرحبا", "שלום", "\u200f", "\u202e", "日本語", "Ω", "ß", "İ", "\x85", "\x0b",
    ]
)
_MIXED = st.lists(_PIECES, max_size=60).map("".join)
_ANY = st.text(max_size=300)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_MIXED, _ANY))
def test_spans_partition_any_text(text: str) -> None:
    check_partition(text, split_sentences(text))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Le chat dort.", "Il pleut !", "Vraiment ?"]), min_size=1,
                max_size=10))
def test_simple_sentences_are_found_one_by_one(sentences: list[str]) -> None:
    text = " ".join(sentences)
    assert texts(text) == sentences


# --- text glued without a space after the full stop (scraped pages) -------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a indiqué le site de la justice iranienne, Mizan Online.Moussavi Majd a été accusé.",
            ["a indiqué le site de la justice iranienne, Mizan Online.",
             "Moussavi Majd a été accusé."],
        ),
        (  # a closing mark stays with its sentence
            "C'est loin d'être un tueur comme j'ai pu le lire\".Sven Lelandais va plus loin.",
            ["C'est loin d'être un tueur comme j'ai pu le lire\".", "Sven Lelandais va plus loin."],
        ),
        (  # an opening mark goes with the next sentence
            "\"C'est top\", s'est réjoui le Ballon d'Or 1998.\"On parle beaucoup.\" Fin.",
            ["\"C'est top\", s'est réjoui le Ballon d'Or 1998.", "\"On parle beaucoup.\"", "Fin."],
        ),
        ("Le bilan date de 2017.La victime avait 14 ans.",
         ["Le bilan date de 2017.", "La victime avait 14 ans."]),
        ("HOLLANDE, LE GRAND OUBLIÉ ?Jacques Chirac est loin d'être le seul.",
         ["HOLLANDE, LE GRAND OUBLIÉ ?", "Jacques Chirac est loin d'être le seul."]),
        ("Le dossier de l'ONU.L'Etat a répondu.", ["Le dossier de l'ONU.", "L'Etat a répondu."]),
    ],
)
def test_sentences_glued_without_a_space_are_split(text: str, expected: list[str]) -> None:
    assert texts(text) == expected
    check_partition(text, split_sentences(text))


@pytest.mark.parametrize(
    "text",
    [
        "Les U.S.A. et le Canada ont signé.",
        "Le prix est de 3.5 euros pour tous.",
        "Voir www.LeMonde.fr et https://Example.org/Page pour la suite.",
        "Écrit par J.R.R.Tolkien en 1954.",
        "Reçu par M.Dupont hier soir.",
        "Une note des U.N. Peacekeepers est parue.",  # dotted acronyms, like "U.S."
        "Le framework ASP.NET et le langage .Net sont de Microsoft.",
    ],
)
def test_glued_looking_tokens_that_are_not_boundaries(text: str) -> None:
    assert texts(text) == [text]
