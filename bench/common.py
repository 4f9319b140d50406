"""The benchmarks' inputs: the shared corpus, stories built from it, token counts.

The corpus lives next to the project in `../shared/corpus/`. Measuring and
reporting are in `bench/harness.py`.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT
from briefing.sources.extract import extract
from briefing.sources.models import Document, Story
from briefing.text.tokens import count_tokens, get_encoding

CORPUS = ROOT.parent / "shared" / "corpus"
ORANGESUM = CORPUS / "orangesum" / "test-first20.jsonl"
MODEL = "bench-model"  # unknown to tiktoken: the bundled offline cl100k_base is used


@dataclass(frozen=True)
class Article:
    """One corpus article: its id and its text."""

    id: str
    text: str


def load_orangesum(path: Path = ORANGESUM) -> list[Article]:
    """The 20 OrangeSum articles of the shared corpus, in file order."""
    if not path.is_file():
        sys.exit(f"corpus not found: {path} (expected ../shared/corpus next to the project)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Article(row["id"], row["text"]) for row in rows]


def story_from_text(text: str, name: str = "a.txt") -> Story:
    """A one-source story built the way the CLI builds it: extract, then a Document."""
    got = extract(text.encode("utf-8"), name=name)
    doc = Document("S1", got.text, got.language, title=got.title, path=name,
                   outlet=got.outlet, published=got.published)
    return Story((doc,))


def tokens(text: str) -> int:
    """cl100k tokens of `text`, with the offline encoding the fake server also uses."""
    return count_tokens(text, get_encoding(MODEL))


def long_document(articles: Sequence[Article], min_tokens: int = 100_000, seed: int = 7) -> str:
    """Distinct text of at least `min_tokens`: the articles in shuffled rounds, paragraphs numbered.

    Each round shuffles the articles again and every paragraph starts with its own
    counter, so no two paragraphs of the document are identical.
    """
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    order: list[Article] = []
    while total < min_tokens:
        if not order:
            order = list(articles)
            rng.shuffle(order)
        paragraph = f"Paragraphe {len(paragraphs) + 1}. {order.pop().text.strip()}"
        paragraphs.append(paragraph)
        total += tokens(paragraph) + 1
    return "\n\n".join(paragraphs)
