"""Sentence ranking for the offline engine: position, centrality, title overlap.

Centrality is the cosine between a sentence's TF-IDF vector and the story's
centroid, computed over every source, so what several outlets say ranks higher.
Selection uses maximal marginal relevance so picked sentences do not repeat.

Every candidate also says what a reader would notice: whether its quotation marks
pair inside it (`balanced`), whether it lies inside someone's quoted words
(`in_speech`: a point must not present them as the outlet's own statement), and
reported speech is found as whole quotations across sentences, never cut.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from briefing.sources.models import Document, Story
from briefing.text.marks import QUOTE_MARKS, Pairing, pair_marks
from briefing.text.sentences import iter_sentences
from briefing.text.words import terms, word_count

# Scraped pages leave script code and boilerplate in the text; such lines never make a brief.
_JUNK = re.compile(r"[{}<>]|function\s*\(|var\s+\w+\s*=|\bhttps?://|;\s*$|©|cookies?\b", re.I)
SPEECH_WORDS = (6, 50)  # reported speech shorter than this is a phrase, longer a speech
# Sentences of one source the offline engine reads: news states its facts early, and a 5 MB
# file of short lines would otherwise cost a word bag per line (hundreds of MB). An article
# runs to a few hundred sentences; longer documents are the LLM's map-reduce work.
MAX_RANKED_SENTENCES = 2_000


@dataclass(frozen=True)
class Candidate:
    """A passage of a source, with its score."""

    source: str
    start: int
    end: int
    text: str
    score: float
    terms: frozenset[str]
    speech: bool = False
    balanced: bool = True  # every quotation mark in it is paired inside it
    in_speech: bool = False  # the whole passage lies inside a quotation
    position: int = 0  # index of the sentence in its source

    @property
    def words(self) -> int:
        """Its length in words."""
        return word_count(self.text)


@dataclass(frozen=True)
class Ranking:
    """The usable sentences of some sources and their reported speech, best first."""

    sentences: tuple[Candidate, ...]
    speech: tuple[Candidate, ...]


def _vector(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    return {t: c * idf.get(t, 0.0) for t, c in counts.items()}


def _norm(vector: dict[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))


def _usable(text: str) -> bool:
    n = word_count(text)
    return 6 <= n <= 70 and not _JUNK.search(text) and text.rstrip(QUOTE_MARKS)[-1:] in ".!?…)"


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int
    text: str
    balanced: bool
    in_speech: bool


def _sentences(doc: Document, pairing: Pairing) -> list[_Sentence]:
    """Sentences with what their quotation marks say: linear in the text's length."""
    text = doc.text
    partners = pairing.partners()
    marks = sorted([*partners, *pairing.unpaired])
    spans = list(itertools.islice(iter_sentences(text), MAX_RANKED_SENTENCES))
    starts = [s.start for s in spans]
    covered = [False] * len(spans)
    for open_at, close_at in pairing.pairs:  # a quotation covers the sentences inside it
        first = bisect.bisect_right(starts, open_at)
        for k in range(first, len(spans)):
            if spans[k].end > close_at + 1:
                break
            if spans[k].end <= close_at:
                covered[k] = True
    found = []
    for k, span in enumerate(spans):
        inside = marks[bisect.bisect_left(marks, span.start) : bisect.bisect_left(marks, span.end)]
        balanced = all(span.start <= partners.get(m, -1) < span.end for m in inside)
        found.append(_Sentence(span.start, span.end, text[span.start : span.end], balanced,
                               covered[k]))
    return found


def rank_sentences(story: Story, sources: tuple[Document, ...] | None = None) -> list[Candidate]:
    """Usable sentences of the story's sources (or of `sources` only), best first."""
    return list(_rank(sources if sources is not None else story.sources).sentences)


def speech_passages(story: Story, sources: tuple[Document, ...] | None = None) -> list[Candidate]:
    """Whole quotations of reported speech, scored by the sentence they start in, best first."""
    return list(_rank(sources if sources is not None else story.sources).speech)


@lru_cache(maxsize=16)  # both briefs and the top-up rank the same sources
def _rank(docs: tuple[Document, ...]) -> Ranking:
    # The marks of each source are paired once: sentences and reported speech both read them.
    pairings = {d.id: pair_marks(d.text) for d in docs}
    rows = [(d, s) for d in docs for s in _sentences(d, pairings[d.id])]
    bags = [Counter(terms(s.text)) for _, s in rows]
    df: Counter[str] = Counter(t for bag in bags for t in bag)
    idf = {t: math.log((1 + len(bags)) / (1 + n)) + 1 for t, n in df.items()}
    centroid: Counter[str] = Counter()
    for bag in bags:
        centroid.update(bag)
    center = _vector(centroid, idf)
    center_norm = _norm(center)  # once: per sentence it would make ranking quadratic
    title_terms = {t for d in docs for t in terms(d.title or "")}
    ranked: list[Candidate] = []
    scores: dict[str, list[tuple[int, float]]] = {}
    index: Counter[str] = Counter()
    for (doc, sent), bag in zip(rows, bags, strict=True):
        position = index[doc.id]
        index[doc.id] += 1
        if not _usable(sent.text):
            continue
        vector = _vector(bag, idf)
        norm = _norm(vector)
        dot = sum(v * center.get(t, 0.0) for t, v in vector.items())
        cosine = dot / (norm * center_norm) if norm and center_norm else 0.0
        overlap = len(title_terms & bag.keys()) / len(title_terms) if title_terms else 0.0
        # Lead first: news puts the event in its first sentences (position weighs as much as
        # centrality), what many sentences repeat next, then what the title names.
        score = 0.5 * cosine + 0.5 / math.sqrt(1 + position) + 0.15 * overlap
        scores.setdefault(doc.id, []).append((sent.start, score))
        ranked.append(Candidate(doc.id, sent.start, sent.end, sent.text, score,
                                frozenset(bag), balanced=sent.balanced,
                                in_speech=sent.in_speech, position=position))
    speech = [c for doc in docs
              for c in _speech(doc, pairings[doc.id], scores.get(doc.id, []))]
    return Ranking(tuple(sorted(ranked, key=lambda c: -c.score)),
                   tuple(sorted(speech, key=lambda c: -c.score)))


def _is_title(text: str) -> bool:
    """Quoted Title Case Words name a film or a book; they are not reported speech."""
    parts = [w for w in text.split() if w[:1].isalpha()]
    return bool(parts) and sum(w[0].isupper() for w in parts) / len(parts) > 0.6


def _speech(doc: Document, pairing: Pairing,
            scores: list[tuple[int, float]]) -> list[Candidate]:
    """Each quotation of `doc` between its own marks, whole, scored by its first sentence."""
    text, found = doc.text, []
    starts = [start for start, _ in scores]
    for open_at, close_at in pairing.pairs:
        start, end = open_at + 1, close_at
        while start < end and text[start].isspace():
            start += 1
        while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:"):
            end -= 1  # "... la loi," : the comma before the closing mark is not said
        inner = text[start:end]
        at = bisect.bisect_right(starts, open_at) - 1
        if at < 0 or not SPEECH_WORDS[0] <= word_count(inner) <= SPEECH_WORDS[1]:
            continue
        # The speaker's own sentence, not words woven into the outlet's ("qualifié de
        # « sans précédent »"): alone, those read as a fragment.
        if _is_title(inner) or _JUNK.search(inner) or not (inner[:1].isupper()
                                                          or inner[:1].isdigit()):
            continue
        found.append(Candidate(doc.id, start, end, inner, scores[at][1] + 0.1,
                               frozenset(terms(inner)), True, balanced=True, in_speech=True))
    return found


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def select(
    candidates: list[Candidate],
    n: int,
    avoid: Sequence[Candidate] = (),
    max_similarity: float = 0.5,
    spread: bool = False,
) -> list[Candidate]:
    """Pick up to `n` candidates, best first, skipping near-repeats; `spread` covers sources."""
    chosen: list[Candidate] = []

    def fits(cand: Candidate) -> bool:
        return all(_similarity(cand.terms, o.terms) <= max_similarity for o in [*chosen, *avoid])

    if spread:  # first the best passage of each source, so that every outlet is cited
        for source in dict.fromkeys(c.source for c in candidates):
            best = next((c for c in candidates if c.source == source and fits(c)), None)
            if best is not None and len(chosen) < n:
                chosen.append(best)
    for cand in candidates:
        if len(chosen) >= n:
            break
        if cand not in chosen and fits(cand):
            chosen.append(cand)
    return sorted(chosen, key=lambda c: -c.score)
