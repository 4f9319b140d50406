"""Keyword filters: which stories a target wants, by words and phrases.

A target (a reader, a group, a topic, a channel) may list words and phrases to include
and to exclude. A story is kept when its text (its title, and the headline and points of
its briefs in every language) holds at least one included phrase (any story, when none is
listed) and no excluded one. Matching is on whole words, in order, accent- and
case-insensitive: "energie" matches "Énergie", "prix de l'énergie" matches "les prix de
l'énergie flambent", "ski" does not match "skier". Safe by construction: phrases are
compared as word sequences, never compiled into regular expressions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from briefing.text.words import WORD, fold

MAX_PHRASES = 50  # per list: a filter is a short list of beats, not a dictionary
MAX_PHRASE_WORDS = 6  # "prix de l'énergie" is a phrase, a sentence is not


def phrase_words(phrase: str) -> tuple[str, ...]:
    """A phrase as the folded words it is matched by (apostrophes split: "l'énergie" is
    "l", "energie")."""
    return tuple(w for part in WORD.findall(fold(phrase)) for w in part.replace("’", "'")
                 .replace("-", "'").split("'") if w)


@dataclass(frozen=True)
class Filters:
    """A target's include and exclude phrases, as written by its admin."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether the filters leave any story out at all."""
        return bool(self.include or self.exclude)

    def keeps(self, texts: Iterable[str]) -> bool:
        """Whether a story whose text is `texts` is kept."""
        words = [w for text in texts for w in phrase_words(text)]
        if any(_holds(words, phrase_words(p)) for p in self.exclude):
            return False
        return not self.include or any(_holds(words, phrase_words(p)) for p in self.include)


def _holds(words: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    if n == 0:
        return False
    first = phrase[0]
    return any(words[i] == first and tuple(words[i:i + n]) == tuple(phrase)
               for i in range(len(words) - n + 1))


def checked_phrase(phrase: str) -> str | None:
    """The phrase as it will be stored (spaces tidied), or None when it holds no word or
    more than `MAX_PHRASE_WORDS`."""
    tidy = " ".join(phrase.split()).strip(" \"'«»“”")
    words = phrase_words(tidy)
    return tidy if 0 < len(words) <= MAX_PHRASE_WORDS else None
