"""Which story a question is about, among the stories a reader was sent.

A reader asks "Pourquoi Amazon poursuit-il Donald Trump en justice ?" without saying
which story they mean, or replies to a digest message covering several. Each candidate
story is scored against the question (`briefing.qa.retrieval.story_scores`: BM25 over
their sentences and headlines pooled, so scores compare):

- the best story is the answer's, unless others score close to it (CLOSE times the best
  or more): then the reader picks among them (at most MAX_OFFERED, best first);
- a tie keeps the candidates' order, which is the caller's: newest first;
- when no story shares a word with the question, nothing is chosen and the caller decides
  (the message replied to, or the last one sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from briefing.qa.retrieval import story_scores
from briefing.sources.models import Story

CLOSE = 0.8  # a runner-up scoring this much of the best story is offered too
MAX_OFFERED = 3  # stories offered when several match closely


@dataclass(frozen=True)
class Candidate:
    """A story the question may be about: its id (the caller's key), its sources, and its
    headlines (any language)."""

    key: int
    story: Story
    headlines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    """The stories that match the question, best first: none (nothing shared a word with
    it), one (answer it) or several close ones (let the reader pick)."""

    keys: tuple[int, ...]
    scores: tuple[float, ...]

    @property
    def clear(self) -> int | None:
        """The one story to answer from, when there is no doubt."""
        return self.keys[0] if len(self.keys) == 1 else None


def choose_story(candidates: Sequence[Candidate], question: str) -> Choice:
    """The story (or the close stories) among `candidates` nearest the question."""
    if not candidates:
        return Choice((), ())
    scores = story_scores([c.story for c in candidates], question,
                          [c.headlines for c in candidates])
    # Sorting is stable: between equal scores the caller's order (newest first) stands.
    ranked = sorted(((s, c.key) for s, c in zip(scores, candidates, strict=True) if s > 0),
                    key=lambda pair: -pair[0])
    if not ranked:
        return Choice((), ())
    best = ranked[0][0]
    close = [(s, key) for s, key in ranked if s >= CLOSE * best][:MAX_OFFERED]
    return Choice(tuple(key for _, key in close), tuple(s for s, _ in close))
