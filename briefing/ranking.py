"""Sentence ranking for the offline engine: position, centrality, title overlap.

Centrality is the cosine between a sentence's TF-IDF vector and the story's
centroid, computed over every source, so what several outlets say ranks higher.
Selection uses maximal marginal relevance so picked sentences do not repeat.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from briefing.models import Document, Story
from briefing.sentences import split_sentences
from briefing.text import terms, word_count

# Scraped pages leave script code and boilerplate in the text; such lines never make a brief.
_JUNK = re.compile(r"[{}<>]|function\s*\(|var\s+\w+\s*=|\bhttps?://|;\s*$|©|cookies?\b", re.I)
_QUOTED = re.compile(r"«\s*([^«»]{20,600}?)\s*»|“([^“”]{20,600}?)”|\"([^\"]{20,600}?)\"")


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


def _vector(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    return {t: c * idf.get(t, 0.0) for t, c in counts.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(t, 0.0) for t, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _usable(text: str) -> bool:
    n = word_count(text)
    return 6 <= n <= 70 and not _JUNK.search(text) and text[-1:] in ".!?»”\"…)"


def _sentences(doc: Document) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, doc.text[s.start : s.end]) for s in split_sentences(doc.text)]


def rank_sentences(story: Story, sources: tuple[Document, ...] | None = None) -> list[Candidate]:
    """Usable sentences of the story's sources (or of `sources` only), best first."""
    return list(_rank(sources if sources is not None else story.sources))


@lru_cache(maxsize=16)  # both briefs and the top-up rank the same sources
def _rank(docs: tuple[Document, ...]) -> tuple[Candidate, ...]:
    rows = [(d, s) for d in docs for s in _sentences(d)]
    bags = [Counter(terms(s[2])) for _, s in rows]
    df: Counter[str] = Counter(t for bag in bags for t in bag)
    idf = {t: math.log((1 + len(bags)) / (1 + n)) + 1 for t, n in df.items()}
    centroid: Counter[str] = Counter()
    for bag in bags:
        centroid.update(bag)
    center = _vector(centroid, idf)
    title_terms = {t for d in docs for t in terms(d.title or "")}
    ranked: list[Candidate] = []
    index: Counter[str] = Counter()
    for (doc, (start, end, text)), bag in zip(rows, bags, strict=True):
        position = index[doc.id]
        index[doc.id] += 1
        if not _usable(text):
            continue
        overlap = len(title_terms & bag.keys()) / len(title_terms) if title_terms else 0.0
        score = (0.5 * _cosine(_vector(bag, idf), center)
                 + 0.35 / math.sqrt(1 + position) + 0.15 * overlap)
        ranked.append(Candidate(doc.id, start, end, text, score, frozenset(bag)))
    return tuple(sorted(ranked, key=lambda c: -c.score))


def _is_title(text: str) -> bool:
    """Quoted Title Case Words name a film or a book; they are not reported speech."""
    parts = [w for w in text.split() if w[:1].isalpha()]
    return bool(parts) and sum(w[0].isupper() for w in parts) / len(parts) > 0.6


def speech_passages(story: Story, ranked: list[Candidate]) -> list[Candidate]:
    """Reported speech between quotation marks, scored by the sentence around it."""
    found: list[Candidate] = []
    for cand in ranked:
        for match in _QUOTED.finditer(cand.text):
            group = next(g for g in range(1, 4) if match.group(g))
            inner = match.group(group).strip().rstrip(",;:").rstrip()
            start = cand.start + match.start(group) + match.group(group).index(inner)
            if 6 <= word_count(inner) <= 50 and not _is_title(inner):
                found.append(Candidate(cand.source, start, start + len(inner), inner,
                                       cand.score + 0.1, frozenset(terms(inner)), True))
    return sorted(found, key=lambda c: -c.score)


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
