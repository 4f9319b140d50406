"""Quotation marks: which one opens, which one closes it, what is left unpaired."""

from __future__ import annotations

import pytest

from briefing.text.marks import is_balanced, pair_marks, unbalanced


def pairs(text: str) -> list[str]:
    return [text[a : b + 1] for a, b in pair_marks(text).pairs]


def test_guillemets_and_curly_quotes_pair_with_their_own_kind() -> None:
    text = "« Il a dit “non” hier », puis « rien »."
    assert pairs(text) == ["« Il a dit “non” hier »", "“non”", "« rien »"]
    assert is_balanced(text)


def test_straight_quotes_pair_by_the_spaces_around_them() -> None:
    text = 'Il parle d\'une "belle connerie" et d\'une "grave erreur".'
    assert pairs(text) == ['"belle connerie"', '"grave erreur"']
    # A mark glued on both sides closes the open quotation, else opens one.
    glued = '"C\'est top", s\'est réjoui le Ballon d\'Or 1998."On parle beaucoup."'
    assert pairs(glued) == ['"C\'est top"', '"On parle beaucoup."']


def test_german_marks_and_apostrophes() -> None:
    assert pairs("„Wir werden nicht nachgeben“, sagte sie.") == ["„Wir werden nicht nachgeben“"]
    assert is_balanced("L’unité d’Amazon affirme qu’il a été lésé.")  # apostrophes, no marks


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ('Humilier quelqu\'un, c\'est interdit par la loi", s\'était insurgé Bruno Donnet.', 1),
        ("Pour le journaliste, « cette séquence normalise un comportement.", 1),
        ("Donald Trump lui avait signifié « d'envoyer paître Amazon", 1),
        ("« Je viens », a-t-il dit.", 0),
        ('Il a dit "oui" puis "non".', 0),
    ],
)
def test_unpaired_marks_are_counted(text: str, count: int) -> None:
    assert unbalanced(text) == count


def test_a_line_break_ends_open_quotations() -> None:
    text = "« Un titre sans fin\n« Une phrase » complète."
    assert pairs(text) == ["« Une phrase »"]
    assert pair_marks(text).unpaired == (0,)
