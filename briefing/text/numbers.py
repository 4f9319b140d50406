"""Numbers as values, whatever their notation, in French and English news text.

"10 milliards", "10 billion", "10bn" and "10 000 000 000" are one value; "1,5 million"
and "1.5m" another. A point's number is checked against the values of the sentences
it cites, so the notation may change between the source and the point, the value may
not. The scale words follow the text's language: the French "billion" is 10^12, the
English one 10^9.

Separators are read both ways where a text alone cannot tell: "1,500" is 1.5 in French
and 1,500 in English, so it stands for both values (and so does "1.500"). A bare single
letter after a number ("10m", "5k") may be a unit ("100m" sprint) as well as a scale:
it stands for both the number and its scaled value. Number words from two to twenty,
and the tens, count as numbers ("trois" is 3); "un"/"one" do not (articles, pronouns),
nor does a capitalised one inside a sentence (a name: "Zidane Five Club"). Digits glued
to letters ("S1", "G7", "A10") are not numbers either: they are names, checked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

# Scale words by language; keys are lower case.
_SCALES: dict[str, dict[str, int]] = {
    "fr": {"mille": 10**3, "millier": 10**3, "milliers": 10**3, "million": 10**6,
           "millions": 10**6, "milliard": 10**9, "milliards": 10**9, "md": 10**9,
           "mds": 10**9, "mrd": 10**9, "mrds": 10**9, "billion": 10**12, "billions": 10**12},
    "en": {"thousand": 10**3, "thousands": 10**3, "million": 10**6, "millions": 10**6,
           "mn": 10**6, "mln": 10**6, "billion": 10**9, "billions": 10**9, "bn": 10**9,
           "trillion": 10**12, "trillions": 10**12, "tn": 10**12, "trn": 10**12},
}
# Single letters that are a scale or a unit: the mention stands for both values.
_LETTERS = {"k": 10**3, "m": 10**6, "b": 10**9}
_WORDS: dict[str, dict[str, int]] = {
    "fr": dict(zip("deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
                   "quinze seize dix-sept dix-huit dix-neuf vingt".split(), range(2, 21),
                   strict=True))
    | {"trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60, "cent": 100,
       "douzaine": 12, "centaine": 100},
    "en": dict(zip("two three four five six seven eight nine ten eleven twelve thirteen "
                   "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split(),
                   range(2, 21), strict=True))
    | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
       "ninety": 90, "hundred": 100, "dozen": 12},
}
_SPACE = "[ \u00a0\u202f]"
_DIGITS = rf"\d{{1,3}}(?:{_SPACE}\d{{3}})+(?![\d.,]\d)|\d+(?:[.,]\d+)*"
_SCALE_WORDS = sorted({w for table in _SCALES.values() for w in table} | set(_LETTERS),
                      key=len, reverse=True)
_NUMBER_WORDS = sorted({w for table in _WORDS.values() for w in table}, key=len, reverse=True)
# Not inside a word ("S1", "G7"), but after an "h" ("7h30": 30 minutes).
_MENTION = re.compile(
    rf"(?<![\d.,])(?<![^\W\d_hH])(?:(?P<digits>{_DIGITS})|(?P<word>{'|'.join(_NUMBER_WORDS)})\b)"
    rf"(?:(?:{_SPACE}|-)?(?P<scale>{'|'.join(_SCALE_WORDS)})\b)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Mention:
    """A number as written (`raw`, at `start`) and every value it may stand for."""

    raw: str
    start: int
    values: frozenset[Decimal]


def _readings(digits: str) -> set[Decimal]:
    """The values a digit string may stand for, its separators read every plausible way."""
    digits = re.sub(_SPACE, "", digits)
    marks = [ch for ch in digits if ch in ".,"]
    if not marks:
        return {Decimal(digits)}
    if len(set(marks)) == 2:  # "1,500.25" or "1.500,25": the last mark is the decimal one
        last = max(digits.rfind("."), digits.rfind(","))
        whole = re.sub(r"[.,]", "", digits[:last])
        return {Decimal(f"{whole}.{digits[last + 1:]}")}
    mark = marks[0]
    groups = digits.split(mark)
    thousands = Decimal("".join(groups)) if all(len(g) == 3 for g in groups[1:]) else None
    if len(groups) > 2:  # "1,500,000": only thousands
        return {thousands} if thousands is not None else set()
    decimal = Decimal(f"{groups[0]}.{groups[1]}")
    return {decimal} | ({thousands} if thousands is not None and len(groups[0]) <= 3 else set())


def _in_a_name(text: str, start: int) -> bool:
    """A capitalised number word inside a sentence is part of a name ("Zidane Five Club",
    "Les Quatre Temps"), not a number."""
    before = text[:start].rstrip()
    return text[start].isupper() and bool(before) and before[-1] not in ".!?:;«\"“(—–-"


@lru_cache(maxsize=4096)
def mentions(text: str, language: str, any_words: bool = False) -> tuple[Mention, ...]:
    """The numbers of `text` in order, read with the scale words of `language`; number
    words of `language` (English for another), or of every language with `any_words`
    (a source read for a point in another language: "five" and "cinq" are both 5 there)."""
    scales = _SCALES.get(language, _SCALES["en"])
    words = _WORDS.get(language, _WORDS["en"])
    if any_words:
        words = {w: n for table in _WORDS.values() for w, n in table.items()}
    found = []
    for match in _MENTION.finditer(text):
        if match.group("word") is not None:
            word = match.group("word").lower()
            if word not in words or _in_a_name(text, match.start()):
                continue
            base = {Decimal(words[word])}
        else:
            base = _readings(match.group("digits"))
        values = set(base)
        scale = (match.group("scale") or "").lower()
        if scale in scales:
            values = {v * scales[scale] for v in base}
        elif scale in _LETTERS:
            values |= {v * _LETTERS[scale] for v in base}
        raw = match.group().strip() if scale else (match.group("digits") or match.group("word"))
        found.append(Mention(raw, match.start(), frozenset(v.normalize() for v in values)))
    return tuple(found)


def values(text: str, language: str, any_words: bool = False) -> frozenset[Decimal]:
    """Every value the numbers of `text` may stand for (see `mentions` for `any_words`)."""
    return frozenset(v for m in mentions(text, language, any_words) for v in m.values)


def missing(text: str, language: str, known: frozenset[Decimal]) -> list[str]:
    """The numbers of `text` (as written) none of whose values is in `known`."""
    return [m.raw for m in mentions(text, language) if not m.values & known]
