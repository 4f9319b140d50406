"""Whether the sources that joined a story say anything its brief's sources did not.

Outlets pick up the same wire copy: a story that gains ten sources in an hour often gains
ten retellings of one text, each with its own opening line. Briefing it again costs an
LLM call and changes nothing a reader would notice, so the service re-briefs a story only
when its new sources bring news (`service.summaries`), and otherwise keeps its brief and
adds the sources to it.

A sentence of a joined source is **known** when one sentence of the earlier sources holds
at least `KNOWN_SHARE` of its content stems (`text.stems`: "a annoncé" and "annonce"
meet, word order and small edits do not matter) and every number it gives appears in the
earlier sources (`text.numbers`: "12 morts" after "10 morts" is news, however alike the
words). Anything else is **new**, and so is every sentence in another language than the
earlier sources' (their stems cannot meet: when in doubt, it is news). The joined sources
bring news when the share of their sentences that are new reaches the threshold the
caller gives (`service.rebrief_novelty`), or when any retold sentence gives other figures
than the earlier sources ("le bilan passe à 12 morts"): one changed figure is news
however small its share.

May import `text`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from briefing.text.numbers import values
from briefing.text.sentences import split_sentences
from briefing.text.stems import stems

# Of a joined sentence's stems, the share one earlier sentence must hold for it to be known:
# a retelling keeps most words of its sentence; a new fact shares a few (the names).
KNOWN_SHARE = 0.7


@dataclass(frozen=True)
class Text:
    """One source as compared here: its text and its language (fr, en, or und)."""

    text: str
    language: str


@dataclass(frozen=True)
class Novelty:
    """How much of the joined sources is new: sentences with content words, and of them
    those the earlier sources do not say."""

    sentences: int
    new: int
    changed: int = 0  # of the new, those that retell an earlier sentence with other figures

    @property
    def share(self) -> float:
        """The share of the joined sentences that are new (0 when there are none)."""
        return self.new / self.sentences if self.sentences else 0.0

    def brings_news(self, threshold: float) -> bool:
        """Whether this is news at `threshold` (the share of new sentences needed): a share
        of new sentences that reaches it, or any figure changed in a retold sentence (a
        toll, an amount, a date that moved); a threshold of 0 is always news."""
        return threshold == 0 or self.share >= threshold or self.changed > 0


def _sentences(document: Text) -> list[str]:
    text = document.text
    return [text[span.start:span.end] for span in split_sentences(text)]


class _Known:
    """The earlier sources' sentences, indexed by stem, and their numbers."""

    def __init__(self, earlier: Sequence[Text]) -> None:
        self.languages = {doc.language for doc in earlier}
        self.by_stem: dict[str, list[int]] = {}
        self.numbers: set[Decimal] = set()
        count = 0
        for doc in earlier:
            self.numbers |= values(doc.text, doc.language)
            for sentence in _sentences(doc):
                for stem in set(stems(sentence, doc.language)):
                    self.by_stem.setdefault(stem, []).append(count)
                count += 1

    def retells(self, words: frozenset[str], language: str) -> bool:
        """Whether one earlier sentence holds KNOWN_SHARE of `words` (a sentence's stems)."""
        if language not in self.languages:
            return False
        shared: Counter[int] = Counter()
        for stem in words:
            shared.update(self.by_stem.get(stem, ()))
        return max(shared.values(), default=0) >= KNOWN_SHARE * len(words)


def novelty(earlier: Sequence[Text], joined: Sequence[Text]) -> Novelty:
    """How much of `joined` (the sources a story's brief lacks) says what `earlier` (the
    sources it was made from) does not; see the module's rule."""
    known = _Known(earlier)
    sentences = new = changed = 0
    for doc in joined:
        for sentence in _sentences(doc):
            words = frozenset(stems(sentence, doc.language))
            if not words:  # a dateline, a lone number: no content to compare
                continue
            sentences += 1
            if not known.retells(words, doc.language):
                new += 1
            elif not values(sentence, doc.language) <= known.numbers:
                new, changed = new + 1, changed + 1
    return Novelty(sentences, new, changed)
