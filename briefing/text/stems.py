"""Content words reduced to their stems, for checking that a point says what its cited
sentences say: "annoncées" and "annonce" are one stem, "announced" and "announcement"
another.

The Snowball stemmers for French and English (`snowballstemmer`, which hands the work to
PyStemmer's C build when it is installed, as our dependencies make sure); words are
lower-cased, stemmed, then accent-folded, so "été" and "ete" meet. Stop words and words
of two letters or fewer carry no content and are left out.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import snowballstemmer

from briefing.text.words import STOPWORDS, WORD, fold

_ALGORITHMS = {"fr": "french", "en": "english"}


_LOCAL = threading.local()


def _stemmer(language: str) -> Any:
    # One stemmer per language and thread: a Snowball stemmer keeps the word it works on in
    # its own fields, so two threads sharing one get each other's stems (or an IndexError).
    stemmers: dict[str, Any] = _LOCAL.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        stemmers[language] = snowballstemmer.stemmer(_ALGORITHMS.get(language, "english"))
    return stemmers[language]


@lru_cache(maxsize=4096)
def stems(text: str, language: str) -> tuple[str, ...]:
    """The stems of the content words of `text`, in order, as `language` stems them."""
    stemmer = _stemmer(language)
    out = []
    for word in WORD.findall(text.lower()):
        # "l'annonce", "d'Amazon": the elided article is not part of the word.
        word = word.split("'")[-1].split("’")[-1]
        if len(word) <= 2 or fold(word) in STOPWORDS or word.isdigit():
            continue
        out.append(fold(stemmer.stemWord(word)))
    return tuple(out)
