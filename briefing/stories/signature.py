"""Article signatures: what clustering keeps of an article, and near-duplicates.

An article is reduced once to a `Signature` (JSON-serialisable, so the store can
keep it); signatures are then compared without the texts (`briefing.stories.assign`).

**Near-duplicates** (wire copies, re-posts under another title, with outlet
boilerplate, a paragraph dropped, light edits): MinHash (64 universal-hash
permutations `(a·h + b) mod (2^61 − 1)` of each shingle's 32-bit SHA-1 hash,
fixed seed) over the word 5-gram shingles of the folded body text (lower
case, accents stripped, punctuation ignored). Two articles are near-duplicates
when the estimated Jaccard similarity of their shingle sets is at least
`NEAR_DUPLICATE` (0.5). Titles are left out, since
re-posts retitle, and so are dates: a copy re-posted days later is still the
same story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np

from briefing.stories.names import (
    COMMON_KEYS,
    extract_names,
    extract_numbers,
    lead_terms,
    title_case,
)
from briefing.text.dates import as_utc
from briefing.text.words import WORD, fold

NUM_PERM = 64
MINHASH_SEED = 1
SHINGLE_WORDS = 5
NEAR_DUPLICATE = 0.5


@dataclass(frozen=True)
class Signature:
    """What clustering keeps of an article; JSON-serialisable via `to_json` / `from_json`."""

    minhash: tuple[int, ...]
    names: tuple[str, ...]
    numbers: tuple[str, ...]
    title_terms: tuple[str, ...]
    language: str
    published: datetime | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the date as an ISO 8601 string, or None)."""
        return {
            "minhash": list(self.minhash),
            "names": list(self.names),
            "numbers": list(self.numbers),
            "title_terms": list(self.title_terms),
            "language": self.language,
            "published": self.published.isoformat() if self.published else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        """The signature `to_json` wrote."""
        published = data.get("published")
        return cls(
            minhash=tuple(int(v) for v in data["minhash"]),
            names=tuple(str(v) for v in data["names"]),
            numbers=tuple(str(v) for v in data["numbers"]),
            title_terms=tuple(str(v) for v in data["title_terms"]),
            language=str(data["language"]),
            published=as_utc(datetime.fromisoformat(published)) if published else None,
        )

    @cached_property
    def name_keys(self) -> frozenset[str]:
        """The single-word keys of all names, common ones removed."""
        return frozenset(k for n in self.names for k in n.split() if k not in COMMON_KEYS)

    @cached_property
    def first_name_keys(self) -> frozenset[str]:
        """Keys written only as the first word of multi-word names ("Emmanuel", "New")."""
        leading = {n.split()[0] for n in self.names if " " in n}
        elsewhere = {k for n in self.names for k in n.split()[1:]}
        elsewhere |= {n for n in self.names if " " not in n}
        return frozenset(leading - elsewhere)

    @cached_property
    def number_set(self) -> frozenset[str]:
        """The numbers, as a set."""
        return frozenset(self.numbers)

    @cached_property
    def term_set(self) -> frozenset[str]:
        """The title and lead terms, as a set."""
        return frozenset(self.title_terms)

    @cached_property
    def minhash_array(self) -> np.ndarray[Any, np.dtype[np.uint32]]:
        """The MinHash values as an array, for fast comparisons."""
        return np.asarray(self.minhash, dtype=np.uint32)


# --- building a signature ---------------------------------------------------------------


def _shingles(text: str) -> set[bytes]:
    tokens = WORD.findall(fold(text))
    if len(tokens) < SHINGLE_WORDS:
        return {" ".join(tokens).encode()} if tokens else set()
    return {
        " ".join(tokens[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(tokens) - SHINGLE_WORDS + 1)
    }


# The classic MinHash construction, in a few lines of numpy: a MinHash library
# (datasketch) cost 70 MB of memory on import, for SciPy it never used here.
_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_RANDOM = np.random.RandomState(MINHASH_SEED)
_A = _RANDOM.randint(1, int(_PRIME), size=NUM_PERM, dtype=np.uint64)
_B = _RANDOM.randint(0, int(_PRIME), size=NUM_PERM, dtype=np.uint64)


def _hash32(shingle: bytes) -> int:
    return int.from_bytes(hashlib.sha1(shingle).digest()[:4], "little")


def _minhash(text: str) -> tuple[int, ...]:
    shingles = _shingles(text)
    if not shingles:
        return ()
    hashes = np.fromiter((_hash32(s) for s in shingles), dtype=np.uint64, count=len(shingles))
    with np.errstate(over="ignore"):  # products wrap modulo 2^64, as in the usual implementation
        permuted = (np.outer(_A, hashes) + _B[:, None]) % _PRIME
    return tuple(int(v) for v in (permuted & _MAX_HASH).min(axis=1))


def signature(
    text: str, title: str | None, language: str, published: datetime | None
) -> Signature:
    """The signature of one article (naive dates are taken as UTC)."""
    both = f"{title}.\n{text}" if title else text
    named = text if title is None or title_case(title) else both
    return Signature(
        minhash=_minhash(text),
        names=extract_names(named),
        numbers=extract_numbers(both),
        title_terms=lead_terms(text, title),
        language=language,
        published=as_utc(published) if published else None,
    )


# --- comparing signatures -----------------------------------------------------------------


def jaccard(a: Signature, b: Signature) -> float:
    """MinHash estimate of the Jaccard similarity of the two shingle sets (0 if either is empty)."""
    if not a.minhash or len(a.minhash) != len(b.minhash):
        return 0.0
    return float(np.count_nonzero(a.minhash_array == b.minhash_array)) / len(a.minhash)


def near_duplicate(a: Signature, b: Signature) -> bool:
    """Wire copy or re-post: estimated shingle Jaccard >= `NEAR_DUPLICATE`."""
    return jaccard(a, b) >= NEAR_DUPLICATE
