"""Small text helpers shared by the ranking, the checks and the renderers."""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a à au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les
    leur leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que qui
    sa se ses son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y été être avoir
    a ont est sont était fait plus comme aussi dont si ainsi selon après avant entre sans sous
    the an and or of to in on at for with by from as is are was were be been it its this that
    these those he she they we you his her their our not but if than then so such has have had
    will would can could said says also about into over after before""".split()
)


def words(text: str) -> list[str]:
    """The words of a text, as written."""
    return WORD.findall(text)


def word_count(text: str) -> int:
    """Number of whitespace-separated words, as a reader counts them."""
    return len(text.split())


@cache
def _combining_marks() -> re.Pattern[str]:
    """A character class of every combining mark (what `unicodedata.combining` flags),
    built on the first fold: scanning every code point takes about 90 ms, which every
    command would otherwise pay at import."""
    marks = [cp for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))]
    ranges, start, end = [], marks[0], marks[0]
    for cp in marks[1:]:
        if cp != end + 1:
            ranges.append((start, end))
            start = cp
        end = cp
    ranges.append((start, end))
    return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                                    for a, b in ranges) + "]+")




def fold(text: str) -> str:
    """Lower-case and strip accents, for loose comparisons of names and question terms
    (the one folding rule: clustering, checks and retrieval all use it)."""
    # One substitution over the NFKD text is about three times faster than a character loop.
    return _combining_marks().sub("", unicodedata.normalize("NFKD", text.lower()))


def terms(text: str) -> list[str]:
    """Content words, folded, for similarity scores."""
    return [w for w in WORD.findall(fold(text)) if len(w) > 2 and w not in STOPWORDS]


def shorten(text: str, max_words: int) -> str:
    """Cut text to `max_words` words, at a clause boundary when one is close, with an ellipsis."""
    parts = text.split()
    if len(parts) <= max_words:
        return text
    head = " ".join(parts[:max_words])
    clause = max(head.rfind(","), head.rfind(";"), head.rfind(" :"))
    if clause > len(head) * 0.6:
        head = head[:clause]
    return head.rstrip(" ,;:") + "…"
