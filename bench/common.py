"""Shared helpers for the benchmarks: the corpus, stories, statistics, tables, results.

The corpus lives next to the project in `../shared/corpus/`; results are written
to `bench/results/` (git-ignored).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefing.sources.extract import extract
from briefing.sources.models import Document, Story
from briefing.text.tokens import count_tokens, get_encoding

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
ORANGESUM = CORPUS / "orangesum" / "test-first20.jsonl"
RESULTS = ROOT / "bench" / "results"
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


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100), linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts)

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write `data` as JSON to bench/results/<name>.json and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def yes_no(flag: bool) -> str:
    """'yes' or 'no', for summaries."""
    return "yes" if flag else "no"
