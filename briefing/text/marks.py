"""Quotation marks: which mark opens, which one closes it, and what is left unpaired.

A quote or a point a reader sees must never hold half of a pair of marks (an
opening « whose » was cut off, a closing " whose opening one is in another
sentence). Pairing follows the marks' typography:

- « … », “ … ” (English and French), „ … “ or „ … ” (German), ‹ … ›, ‘ … ’;
- a straight " opens when it follows a space or starts the text and closes when a
  space, punctuation or the end follows it; when neither tells ("1998."On"), it
  closes the quote that is open, else it opens one;
- ’ between two letters is an apostrophe, and a straight ' is never a mark;
- a line break ends every open quote (its opening mark stays unpaired).

One linear scan; the same rule serves whole articles and single quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every character that can open or close a quotation (and ' which is only stripped at edges).
QUOTE_MARKS = "\"'«»“”„‟‘’‚‛‹›"
_SCAN = re.compile(r"[\"«»“”„‟‘’‚‛‹›\n]")
_CLOSERS = {"»": "«", "”": "“„‟", "›": "‹", "’": "‘‚‛"}
_OPENERS = frozenset("«“„‟‹‘‚‛")
OPENING_MARKS = "«“„‟‹‘\""  # what a quotation may start with (the low-9 ‚‛ are rare)
# What a straight opening mark follows, and what follows a straight closing one.
_BEFORE_OPENING = frozenset("([{«“‘—–-/")
_AFTER_CLOSING = frozenset(".,;:!?)]}…»”’-—–/")


@dataclass(frozen=True)
class Pairing:
    """The quotation marks of a text: pairs (opening, closing offsets) and unpaired marks."""

    pairs: tuple[tuple[int, int], ...]
    unpaired: tuple[int, ...]

    def partners(self) -> dict[int, int]:
        """Offset of each paired mark -> offset of its partner."""
        found: dict[int, int] = {}
        for start, end in self.pairs:
            found[start] = end
            found[end] = start
        return found


def _straight_role(text: str, i: int, inside: bool) -> str:
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    opening = before.isspace() or before in _BEFORE_OPENING
    closing = after.isspace() or after in _AFTER_CLOSING
    if opening and not closing:
        return "open"
    if closing and not opening:
        return "close"
    return "close" if inside else "open"


def pair_marks(text: str) -> Pairing:
    """Pair the quotation marks of `text` (see the module docstring)."""
    pairs: list[tuple[int, int]] = []
    unpaired: list[int] = []
    stack: list[tuple[str, int]] = []  # open typographic marks
    straight: int | None = None  # offset of the open straight quote
    for match in _SCAN.finditer(text):
        i, ch = match.start(), match.group()
        if ch == "\n":
            unpaired += [pos for _, pos in stack] + ([straight] if straight is not None else [])
            stack, straight = [], None
        elif ch == '"':
            if _straight_role(text, i, straight is not None) == "close":
                if straight is None:
                    unpaired.append(i)
                else:
                    pairs.append((straight, i))
                    straight = None
            else:
                if straight is not None:
                    unpaired.append(straight)
                straight = i
        elif ch == "’" and 0 < i < len(text) - 1 and text[i - 1].isalpha() \
                and text[i + 1].isalpha():
            continue  # an apostrophe
        elif ch == "“" and stack and stack[-1][0] in "„‟":
            pairs.append((stack.pop()[1], i))  # German „ … “
        elif ch in _CLOSERS:
            if stack and stack[-1][0] in _CLOSERS[ch]:
                pairs.append((stack.pop()[1], i))
            elif ch != "’":  # a lone ’ is an apostrophe ("les joueurs’"), not a mark
                unpaired.append(i)
        elif ch in _OPENERS:
            stack.append((ch, i))
    unpaired += [pos for _, pos in stack] + ([straight] if straight is not None else [])
    return Pairing(tuple(sorted(pairs)), tuple(sorted(unpaired)))


def unbalanced(text: str) -> int:
    """How many quotation marks of `text` have no partner inside it."""
    return len(pair_marks(text).unpaired)


def is_balanced(text: str) -> bool:
    """True when every quotation mark opened in `text` is closed in it, and the reverse."""
    return not pair_marks(text).unpaired
