"""CPU time of the pipeline without LLM wait, and chunking throughput.

Targets: median <= 20 ms of CPU per OrangeSum article for the whole offline path
(extraction, ranking, quote and point checks, rendering, JSON), and chunking at
>= 5 MB of text per second.

Two variants per article, each timed as 1 warm-up run then the median of N runs:

* offline: extract -> summarise with the extractive engine -> render -> JSON.
* llm-stub: the same path, but the engine is `CannedLLMEngine`, a stand-in that
  exists in this benchmark only. It returns a prepared, LLM-shaped proposal
  (points, verbatim quotes, translations) instantly, so quote verification,
  point checks and rendering are timed on the kind of output an LLM gives,
  with no network and no model. The real LLMEngine's own work (prompt building,
  token counting, JSON parsing) is not part of this figure.

The pipeline's small caches (normalised texts, sentence splits) are cleared
before every timed run: each article is summarised once in real use.
Run: .venv/bin/python bench/cpu.py
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from common import (
    CORPUS,
    ROOT,
    Article,
    load_orangesum,
    median,
    percentile,
    print_table,
    story_from_text,
    write_results,
    yes_no,
)
from rich.console import Console

from briefing.briefs import checks, citations
from briefing.briefs.engines import ranking
from briefing.briefs.models import DraftBrief, DraftQuote, Feedback, Proposal
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.llm import conversation
from briefing.render.terminal import render_terminal
from briefing.sources.extract import extract
from briefing.sources.models import Story
from briefing.text.sentences import split_sentences
from briefing.text.tokens import chunk, count_tokens, get_encoding
from briefing.text.words import shorten

T = TypeVar("T")
TARGET_MS = 20.0
TARGET_MB_S = 5.0
STAGES = ("extract", "summarise", "render", "json")

# ---------------------------------------------------------------- the LLM stand-in


def _sentences(story: Story) -> list[str]:
    doc = story.sources[0]
    return [doc.text[s.start:s.end] for s in split_sentences(doc.text)]


def canned_proposal(story: Story, languages: tuple[str, ...]) -> Proposal:
    """An LLM-shaped proposal: headline, 3 points, 2 verbatim quotes per language."""
    sentences = _sentences(story)
    quotable = [s for s in sentences if 8 <= len(s.split()) <= 40] or sentences[:2]
    briefs = {}
    for lang in languages:
        translated = lang != story.sources[0].language
        quotes = tuple(DraftQuote(q, "S1", shorten(q, 12) if translated else None)
                       for q in quotable[:2])
        points = tuple(shorten(s, 25) for s in sentences[1:4])
        briefs[lang] = DraftBrief(shorten(sentences[0], 14), points, quotes)
    return Proposal(briefs, "llm", "bench-stub")


class CannedLLMEngine:
    """BENCHMARK ONLY: answers like the LLM engine, instantly, with a prepared proposal."""

    name = "llm"

    def __init__(self, proposal: Proposal) -> None:
        self.proposal = proposal

    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """The prepared proposal (also for a retry: its quotes are verbatim)."""
        return self.proposal


# ---------------------------------------------------------------- timing


@dataclass
class StageClock:
    """CPU (process_time) and wall (perf_counter) seconds spent in each named stage."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)

    def time(self, stage: str, fn: Callable[[], T]) -> T:
        """Run `fn`, adding its CPU and wall time to `stage`."""
        cpu, wall = time.process_time(), time.perf_counter()
        value = fn()
        self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - cpu
        self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - wall
        return value


def clear_caches() -> None:
    """Forget the pipeline's per-text caches, so each run is a first run for its article."""
    citations.normalise.cache_clear()
    conversation._sentences.cache_clear()
    ranking._rank.cache_clear()
    checks._story_facts.cache_clear()


def full_path(text: str, settings: Settings, engine: CannedLLMEngine | None) -> StageClock:
    """extract -> summarise -> render to a string -> JSON, timed by stage."""
    clock = StageClock()
    story = clock.time("extract", lambda: story_from_text(text))
    result = clock.time("summarise", lambda: summarise(story, settings, engine))
    console = Console(file=io.StringIO(), width=100)
    clock.time("render", lambda: render_terminal(result, console))
    clock.time("json", lambda: json.dumps(result.to_dict(), ensure_ascii=False))
    return clock


def timed_runs(run: Callable[[], StageClock], runs: int) -> dict[str, float]:
    """Median milliseconds (total CPU, total wall, CPU per stage) after one warm-up run."""
    clear_caches()
    run()
    clocks = []
    for _ in range(runs):
        clear_caches()
        clocks.append(run())
    out = {"cpu_ms": median([sum(c.cpu.values()) for c in clocks]) * 1000,
           "wall_ms": median([sum(c.wall.values()) for c in clocks]) * 1000}
    for stage in STAGES:
        out[f"{stage}_cpu_ms"] = median([c.cpu.get(stage, 0.0) for c in clocks]) * 1000
    return out


# ---------------------------------------------------------------- per article


def offline_settings() -> Settings:
    """Default settings with the offline engine (no briefing.toml, no environment)."""
    return Settings.model_validate({"llm": {"engine": "extractive"}})


def article_row(article: Article, settings: Settings, runs: int) -> dict[str, Any]:
    """Both variants for one article."""
    proposal = canned_proposal(story_from_text(article.text), settings.brief.languages)
    stub = CannedLLMEngine(proposal)
    return {
        "id": article.id, "chars": len(article.text),
        "offline": timed_runs(lambda: full_path(article.text, settings, None), runs),
        "llm_stub": timed_runs(lambda: full_path(article.text, settings, stub), runs),
    }


def variant_summary(rows: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Median and p95 over articles of the per-article medians, with the verdict."""
    cpu = [r[variant]["cpu_ms"] for r in rows]
    summary = {"median_cpu_ms": median(cpu), "p95_cpu_ms": percentile(cpu, 95),
               "max_cpu_ms": max(cpu),
               "median_wall_ms": median([r[variant]["wall_ms"] for r in rows]),
               "passes": median(cpu) <= TARGET_MS}
    for stage in STAGES:
        summary[f"median_{stage}_cpu_ms"] = median([r[variant][f"{stage}_cpu_ms"] for r in rows])
    return summary


def print_articles(rows: list[dict[str, Any]]) -> None:
    """Per-article medians, both variants."""
    headers = ["article", "chars", "offline cpu", "offline wall", "llm-stub cpu", "llm-stub wall"]
    print_table(headers, [
        [r["id"], r["chars"], f"{r['offline']['cpu_ms']:.2f}", f"{r['offline']['wall_ms']:.2f}",
         f"{r['llm_stub']['cpu_ms']:.2f}", f"{r['llm_stub']['wall_ms']:.2f}"]
        for r in rows
    ])


def print_variants(summaries: dict[str, dict[str, Any]]) -> None:
    """Summary per variant, with the median CPU of each stage."""
    headers = ["variant", "median cpu", "p95 cpu", "max cpu", "median wall",
               *[f"{s} cpu" for s in STAGES], f"<= {TARGET_MS:.0f} ms"]
    print_table(headers, [
        [name, *(f"{s[k]:.2f}" for k in ("median_cpu_ms", "p95_cpu_ms", "max_cpu_ms",
                                         "median_wall_ms")),
         *(f"{s[f'median_{st}_cpu_ms']:.2f}" for st in STAGES), yes_no(s["passes"])]
        for name, s in summaries.items()
    ])


# ---------------------------------------------------------------- chunking throughput


def corpus_text(articles: list[Article], min_bytes: int = 5_000_000) -> str:
    """At least `min_bytes` of UTF-8 text: the OrangeSum articles and the HTML pages' text."""
    texts = [a.text for a in articles]
    for page in sorted((CORPUS / "html").glob("*.html")):
        try:
            texts.append(extract(page.read_bytes(), name=page.name).text)
        except ExtractionError:
            continue  # a page whose article is loaded by script has no text to chunk
    unit = "\n\n".join(texts)
    copies = -(-min_bytes // len(unit.encode("utf-8")))
    return "\n\n".join([unit] * copies)


def throughput(label: str, fn: Callable[[], Any], size: int, runs: int = 3) -> dict[str, Any]:
    """MB/s of `fn` over `size` bytes: median of `runs` (after one warm-up), CPU and wall."""
    fn()
    cpu_s, wall_s = [], []
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        count = len(fn())
        cpu_s.append(time.process_time() - cpu)
        wall_s.append(time.perf_counter() - wall)
    return {"what": label, "items": count, "cpu_s": median(cpu_s), "wall_s": median(wall_s),
            "cpu_mb_s": size / 1e6 / median(cpu_s), "wall_mb_s": size / 1e6 / median(wall_s)}


def chunking(articles: list[Article]) -> dict[str, Any]:
    """chunk(text, 4000, 64), and split_sentences and count_tokens alone, on >= 5 MB."""
    text = corpus_text(articles)
    size = len(text.encode("utf-8"))
    enc = get_encoding()
    measures = [
        throughput("chunk(text, 4000, 64)", lambda: chunk(text, 4000, 64, enc), size),
        throughput("split_sentences(text)", lambda: split_sentences(text), size),
        throughput("count_tokens(text)", lambda: range(count_tokens(text, enc)), size),
    ]
    return {"bytes": size, "chars": len(text), "measures": measures,
            "passes": measures[0]["cpu_mb_s"] >= TARGET_MB_S}


def print_chunking(result: dict[str, Any]) -> None:
    """The throughput table (items: chunks, sentences, tokens)."""
    print(f"text: {result['bytes'] / 1e6:.2f} MB UTF-8 ({result['chars']} chars)")
    print_table(["operation", "items", "cpu s", "wall s", "cpu MB/s", "wall MB/s"], [
        [m["what"], m["items"], f"{m['cpu_s']:.3f}", f"{m['wall_s']:.3f}",
         f"{m['cpu_mb_s']:.2f}", f"{m['wall_mb_s']:.2f}"]
        for m in result["measures"]
    ])


# ---------------------------------------------------------------- main


def print_summary(summaries: dict[str, dict[str, Any]], chunks: dict[str, Any]) -> None:
    """The figures to quote."""
    print("\nSUMMARY")
    for name, s in summaries.items():
        print(f"{name}: median {s['median_cpu_ms']:.2f} ms CPU per article "
              f"(p95 {s['p95_cpu_ms']:.2f}, max {s['max_cpu_ms']:.2f}, "
              f"median wall {s['median_wall_ms']:.2f}); target <= {TARGET_MS:.0f} ms: "
              f"{'pass' if s['passes'] else 'FAIL'}")
    first = chunks["measures"][0]
    print(f"chunking: {first['cpu_mb_s']:.2f} MB/s CPU ({first['wall_mb_s']:.2f} MB/s wall) "
          f"on {chunks['bytes'] / 1e6:.2f} MB; target >= {TARGET_MB_S:.0f} MB/s: "
          f"{'pass' if chunks['passes'] else 'FAIL'}")


def main() -> None:
    """Time every article, both variants, then chunking; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per article (>= 5)")
    args = parser.parse_args()
    articles = load_orangesum()
    settings = offline_settings()
    rows = [article_row(a, settings, max(5, args.runs)) for a in articles]
    summaries = {v: variant_summary(rows, v) for v in ("offline", "llm_stub")}
    print(f"Per-article CPU, ms (median of {max(5, args.runs)} runs after 1 warm-up)\n")
    print_articles(rows)
    print()
    print_variants(summaries)
    print("\nChunking throughput (median of 3 runs after 1 warm-up)")
    chunks = chunking(articles)
    print_chunking(chunks)
    print_summary(summaries, chunks)
    data = {"runs": max(5, args.runs), "target_ms": TARGET_MS, "articles": rows,
            "summary": summaries, "chunking": chunks}
    print(f"\nwritten: {write_results('cpu', data).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
