"""The quote matcher: exact, typography-only repairs, and rejection of changed words."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from briefing.briefs.citations import check_quote, locate, normalise, strip_edges, verify_quotes
from briefing.briefs.models import DraftQuote
from briefing.sources.models import Story
from tests.conftest import text_story

SOURCE = (
    "Outre le président américain, AWS espère qu'en plus de l'actuel ministre de la Défense, "
    "Mark Eper, l'ancien secrétaire James Mattis soit interrogé. Rien ne dit que la procédure "
    "réussisse\u00a0: « Le ministère s'oppose fermement à ce que de hauts responsables du "
    "Pentagone fassent des dépositions », a réagi Robert Carver. Le contrat vaut 10 milliards "
    "de dollars — une somme record."
)


def test_exact_quote_is_found_at_its_offsets() -> None:
    quote = "l'actuel ministre de la Défense, Mark Eper"
    start, end = locate(quote, SOURCE) or (0, 0)
    assert SOURCE[start:end] == quote
    assert start == SOURCE.index(quote)


def test_typography_differences_are_repaired_to_source_characters() -> None:
    variants = [
        "L’actuel ministre de la défense, Mark Eper",  # curly apostrophe, case
        "l'actuel  ministre de la\nDéfense, Mark Eper",  # whitespace
        "…l'actuel ministre de la Défense, Mark Eper...",  # ellipses at the ends
        '"Le ministère s\'oppose fermement à ce que de hauts responsables du Pentagone"',
        "réussisse: \"Le ministère s'oppose",  # French spacing and quote style
        "10 milliards de dollars - une somme record",  # dash
    ]
    for variant in variants:
        found = locate(variant, SOURCE)
        assert found is not None, variant
        exact = SOURCE[found[0] : found[1]]
        assert normalise(strip_edges(variant)).text == normalise(exact).text


def test_changed_words_numbers_and_names_are_rejected() -> None:
    for changed in [
        "l'actuel ministre de la Défense, Mark Esper",  # the source's typo must be kept
        "Le contrat vaut 12 milliards de dollars",  # a changed number
        "Le ministère s'oppose totalement à ce que de hauts responsables",  # a changed word
        "l'actuel ministre de la Defense, Mark Eper",  # a missing accent is a different word
        "Le ministère s'oppose fermement … fassent des dépositions",  # an inner ellipsis elides
    ]:
        assert locate(changed, SOURCE) is None, changed


def test_check_quote_finds_a_quote_under_the_wrong_source_id() -> None:
    story = text_story("Une phrase sans rapport avec le sujet du jour.", SOURCE)
    quote, outcome = check_quote(DraftQuote("James Mattis soit interrogé", "S1"), story)
    assert quote is not None and quote.source == "S2"
    assert outcome == "repaired"


def test_rejection_reason_names_the_closest_passage() -> None:
    story = text_story(SOURCE)
    quote, reason = check_quote(DraftQuote("Le contrat vaut 12 milliards de dollars", "S1"), story)
    assert quote is None
    assert "10 milliards" in reason


def test_too_short_quotes_are_rejected() -> None:
    quote, reason = check_quote(DraftQuote("Mark Eper", "S1"), text_story(SOURCE))
    assert quote is None and "words" in reason


def test_verify_quotes_counts_and_offsets() -> None:
    story = text_story(SOURCE)
    drafts = {
        "fr": [
            DraftQuote("James Mattis soit interrogé", "S1"),  # exact
            DraftQuote("l’actuel ministre de la Défense, Mark Eper", "S1"),  # repaired
            DraftQuote("Le contrat vaut 12 milliards de dollars", "S1"),  # rejected
            DraftQuote("James Mattis soit interrogé", "S1"),  # duplicate: ignored
        ]
    }
    check = verify_quotes(drafts, story)
    assert (check.counts.proposed, check.counts.verified) == (3, 1)
    assert (check.counts.repaired, check.counts.rejected) == (1, 1)
    for quote in check.quotes["fr"]:
        assert SOURCE[quote.start : quote.end] == quote.text
    assert check.rejected[0][1].text.startswith("Le contrat vaut 12")


_words = st.text(alphabet=string.ascii_letters + "éèàçôÉ", min_size=1, max_size=8)
_sentences = st.lists(_words, min_size=3, max_size=40).map(" ".join)


@settings(max_examples=150)
@given(_sentences, st.data())
def test_any_substring_of_words_is_located_exactly(text: str, data: st.DataObject) -> None:
    words = text.split()
    i = data.draw(st.integers(0, len(words) - 3))
    j = data.draw(st.integers(i + 3, len(words)))
    quote = " ".join(words[i:j])
    found = locate(quote, text)
    assert found is not None
    assert text[found[0] : found[1]] == quote


_TYPO: dict[str | int, str | int | None] = {"'": "’", '"': "“", "-": "—", " ": "\u00a0"}


@settings(max_examples=150)
@given(_sentences, st.data())
def test_typographic_variants_map_back_to_source_characters(
    text: str, data: st.DataObject
) -> None:
    words = text.split()
    source = " - ".join([" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])])
    quote = source.translate(str.maketrans(dict(_TYPO))).upper()
    found = locate(quote, source)
    assert found is not None
    assert found == (0, len(source))


@settings(max_examples=150)
@given(_sentences, st.data())
def test_a_changed_letter_is_never_accepted(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(text) - 1).filter(lambda k: text[k].isalpha()))
    replacement = "q" if text[position].lower() != "q" else "z"
    changed = text[:position] + replacement + text[position + 1 :]
    story: Story = text_story(text)
    quote, reason = check_quote(DraftQuote(changed, "S1"), story)
    assert quote is None
    assert reason


# --- quotation marks at the edges of a quote ------------------------------------

AMAZON = ("Un témoin important, ce dernier ayant précédemment mentionné que Donald Trump lui "
          "avait signifier « d'envoyer paître Amazon ». Rien ne dit que la procédure réussisse.")


def test_a_closing_mark_whose_opening_mark_is_in_the_quote_is_kept() -> None:
    quote = "Donald Trump lui avait signifier « d'envoyer paître Amazon »"
    assert strip_edges(quote) == quote
    start, end = locate(quote, AMAZON) or (0, 0)
    assert AMAZON[start:end] == quote and AMAZON[start:end].endswith("»")
    checked, outcome = check_quote(DraftQuote(quote, "S1"), text_story(AMAZON))
    assert checked is not None and checked.text.endswith("»") and outcome == "exact"


def test_marks_around_the_whole_quote_or_without_partner_are_taken_off() -> None:
    assert strip_edges("« d'envoyer paître Amazon »") == "d'envoyer paître Amazon"
    assert strip_edges("d'envoyer paître Amazon »") == "d'envoyer paître Amazon"
    assert strip_edges("“… la fin du monde …”") == "la fin du monde"
    # An opening mark closed inside the quote stays, and so does its partner.
    assert strip_edges("« Je viens », a-t-il dit.") == "« Je viens », a-t-il dit."
    assert strip_edges('"oui" et "non"') == '"oui" et "non"'


def test_a_repaired_quote_with_inner_marks_keeps_them_paired() -> None:
    # Straight marks in the model's answer, guillemets in the source.
    quote = 'Donald Trump lui avait signifier "d\'envoyer paître Amazon"'
    checked, outcome = check_quote(DraftQuote(quote, "S1"), text_story(AMAZON))
    assert checked is not None and outcome == "repaired"
    assert checked.text == "Donald Trump lui avait signifier « d'envoyer paître Amazon »"
    assert AMAZON[checked.start : checked.end] == checked.text
