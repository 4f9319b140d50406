"""ROUGE-1/2/L with Google's `rouge-score`, through a French-aware tokeniser.

`rouge-score`'s own tokeniser keeps only `[a-z0-9]`, so every accented letter
splits a French word in pieces ("société" -> "soci", "t"). Ours, per language:

- lower-case, then words are runs of letters and digits: apostrophes and hyphens
  split, so elisions come apart ("l'article" -> "l", "article");
- words longer than 3 letters are stemmed with nltk's Snowball stemmer for the
  language (French, English; nltk comes with `rouge-score` anyway), as
  `rouge-score` does with Porter for English;
- accents are then stripped, so "Etat" and "État" (both in OrangeSum) match.

Figures are F-measures in percent.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_WORD = re.compile(r"[^\W_]+")
_STEMMERS = {"fr": "french", "en": "english", "de": "german", "es": "spanish",
             "it": "italian", "pt": "portuguese", "nl": "dutch"}


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class Tokenizer:
    """A `rouge_score` tokeniser for one language (see the module docstring)."""

    def __init__(self, language: str) -> None:
        from nltk.stem.snowball import SnowballStemmer  # type: ignore[import-untyped]

        name = _STEMMERS.get(language)
        self.stem = SnowballStemmer(name).stem if name else None

    def tokenize(self, text: str) -> list[str]:
        """Lower-cased, stemmed, accent-free words of `text`."""
        tokens = []
        for word in _WORD.findall(text.lower()):
            if self.stem is not None and len(word) > 3:
                word = self.stem(word)
            tokens.append(_strip_accents(word))
        return tokens


@lru_cache(maxsize=8)
def _scorer(language: str) -> Any:
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=Tokenizer(language))


def rouge(reference: str, candidate: str, language: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures (percent) of `candidate` against `reference`."""
    scores = _scorer(language).score(reference, candidate)
    return {name: round(100 * scores[name].fmeasure, 2) for name in ROUGE_TYPES}
