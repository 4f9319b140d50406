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

Each article is summarised once in real use, so no run may reuse what the
pipeline cached for an earlier one: what is keyed by text (`citations.normalise`, the
sentence numbering, stems and number readings of the point checks) is cleared before
every run, and every run reads the article under a file name of
its own, so the caches keyed by document or story (sentence ranking, the
story's facts for the point checks) never hit either.

Baselines in the same run: `offline` for `llm-stub` (ratio of the median CPU),
`count_tokens` alone for `chunk` (ratio of the CPU time).

Run: .venv/bin/python -m bench.cpu            (about 10 s)
     .venv/bin/python -m bench.cpu --quick    (3 articles, 3 runs, 0.5 MB of text)
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from bench.common import CORPUS, Article, load_orangesum, story_from_text
from bench.harness import (
    Stages,
    context,
    finish,
    median,
    parser,
    percentile,
    pick,
    print_context,
    print_table,
    ratio,
    repeat,
    result_name,
    timed,
    times,
    yes_no,
)
from briefing.briefs import citations
from briefing.briefs.models import (
    DraftBrief,
    DraftPoint,
    DraftQuote,
    Feedback,
    Proposal,
    SentenceRef,
)
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.render.terminal import render_terminal
from briefing.sources.extract import extract
from briefing.sources.models import Story
from briefing.text.numbers import mentions
from briefing.text.sentences import numbered, split_sentences
from briefing.text.stems import stems
from briefing.text.tokens import chunk, count_tokens, get_encoding
from briefing.text.words import shorten

TARGET_MS = 20.0
TARGET_MB_S = 5.0
STAGES = ("extract", "summarise", "render", "json")


@dataclass(frozen=True)
class Scale:
    """How much to measure."""

    articles: int | None  # None: all 20
    runs: int  # timed runs per article and variant
    chunk_bytes: int
    chunk_runs: int


FULL = Scale(articles=None, runs=7, chunk_bytes=5_000_000, chunk_runs=3)
QUICK = Scale(articles=3, runs=3, chunk_bytes=500_000, chunk_runs=1)

# ---------------------------------------------------------------- the LLM stand-in


def sentences_of(story: Story) -> list[str]:
    """The sentences of the story's first source."""
    doc = story.sources[0]
    return [doc.text[s.start:s.end] for s in split_sentences(doc.text)]


def canned_proposal(story: Story, languages: tuple[str, ...]) -> Proposal:
    """An LLM-shaped proposal: headline, 3 points, 2 verbatim quotes per language."""
    sentences = sentences_of(story)
    quotable = [s for s in sentences if 8 <= len(s.split()) <= 40] or sentences[:2]
    briefs = {}
    for lang in languages:
        translated = lang != story.sources[0].language
        quotes = tuple(DraftQuote(q, "S1", shorten(q, 12) if translated else None)
                       for q in quotable[:2])
        points = tuple(DraftPoint(shorten(s, 25), (SentenceRef("S1", i),))
                       for i, s in enumerate(sentences[1:4], start=2))
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

RUN_NAMES = (f"a{n:05d}.txt" for n in itertools.count())  # a file name per run: no cache hit


def full_path(text: str, settings: Settings, engine: CannedLLMEngine | None) -> Stages:
    """extract -> summarise -> render to a string -> JSON, timed by stage."""
    clock = Stages()
    name = next(RUN_NAMES)
    story = clock.time("extract", lambda: story_from_text(text, name))
    result = clock.time("summarise", lambda: summarise(story, settings, engine))
    console = Console(file=io.StringIO(), width=100)
    clock.time("render", lambda: render_terminal(result, console))
    clock.time("json", lambda: json.dumps(result.to_dict(), ensure_ascii=False))
    return clock


def forget_text_caches() -> None:
    """Clear what the pipeline caches by text (not by document), so no run reuses an
    earlier one's work: typography folding, sentence numbering, stems, number readings."""
    citations.normalise.cache_clear()
    numbered.cache_clear()
    stems.cache_clear()
    mentions.cache_clear()


def timed_runs(run: Callable[[], Stages], runs: int) -> dict[str, float]:
    """Median milliseconds (total CPU, total wall, CPU per stage) after one warm-up run."""
    clocks = repeat(run, runs, warmup=1, before=forget_text_caches)
    out = {"cpu_ms": median([c.cpu_s for c in clocks]) * 1000,
           "wall_ms": median([c.wall_s for c in clocks]) * 1000}
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
    """Summary per variant, with the median CPU of each stage and the ratio to `offline`."""
    base = summaries["offline"]["median_cpu_ms"]
    headers = ["variant", "median cpu", "p95 cpu", "max cpu", "median wall",
               *[f"{s} cpu" for s in STAGES], "vs offline", f"<= {TARGET_MS:.0f} ms"]
    print_table(headers, [
        [name, *(f"{s[k]:.2f}" for k in ("median_cpu_ms", "p95_cpu_ms", "max_cpu_ms",
                                         "median_wall_ms")),
         *(f"{s[f'median_{st}_cpu_ms']:.2f}" for st in STAGES),
         times(ratio(s["median_cpu_ms"], base)), yes_no(s["passes"])]
        for name, s in summaries.items()
    ])


# ---------------------------------------------------------------- chunking throughput


def corpus_text(articles: Sequence[Article], min_bytes: int) -> str:
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


def throughput(label: str, fn: Callable[[], Sequence[Any]], size: int,
               runs: int) -> dict[str, Any]:
    """MB/s of `fn` over `size` bytes: median of `runs` (after one warm-up), CPU and wall."""
    samples = repeat(lambda: timed(fn), runs, warmup=1)
    cpu_s, wall_s = median([s[1] for s in samples]), median([s[2] for s in samples])
    return {"what": label, "items": len(samples[-1][0]), "cpu_s": cpu_s, "wall_s": wall_s,
            "cpu_mb_s": size / 1e6 / cpu_s, "wall_mb_s": size / 1e6 / wall_s}


def chunking(articles: Sequence[Article], scale: Scale) -> dict[str, Any]:
    """chunk(text, 4000, 64), and split_sentences and count_tokens alone (the baseline)."""
    text = corpus_text(articles, scale.chunk_bytes)
    size = len(text.encode("utf-8"))
    enc = get_encoding()
    runs = scale.chunk_runs
    measures = [
        throughput("chunk(text, 4000, 64)", lambda: chunk(text, 4000, 64, enc), size, runs),
        throughput("split_sentences(text)", lambda: split_sentences(text), size, runs),
        throughput("count_tokens(text)", lambda: range(count_tokens(text, enc)), size, runs),
    ]
    base = measures[-1]["cpu_s"]
    for measure in measures:
        measure["cpu_vs_count_tokens"] = ratio(measure["cpu_s"], base)
    return {"bytes": size, "chars": len(text), "runs": runs, "measures": measures,
            "passes": measures[0]["cpu_mb_s"] >= TARGET_MB_S}


def print_chunking(result: dict[str, Any]) -> None:
    """The throughput table (items: chunks, sentences, tokens)."""
    print(f"text: {result['bytes'] / 1e6:.2f} MB UTF-8 ({result['chars']} chars)")
    print_table(["operation", "items", "cpu s", "wall s", "cpu MB/s", "wall MB/s",
                 "cpu vs count_tokens"], [
        [m["what"], m["items"], f"{m['cpu_s']:.3f}", f"{m['wall_s']:.3f}",
         f"{m['cpu_mb_s']:.2f}", f"{m['wall_mb_s']:.2f}", times(m["cpu_vs_count_tokens"])]
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


def main(argv: Sequence[str] | None = None) -> None:
    """Time every article, both variants, then chunking; print and save the figures."""
    options = parser(__doc__)
    options.add_argument("--runs", type=int, help="timed runs per article (default 7, >= 5 "
                                                  "unless --quick)")
    args = options.parse_args(argv)
    base = QUICK if args.quick else FULL
    runs = pick(args.runs, FULL.runs, QUICK.runs, args.quick)
    scale = Scale(base.articles, runs if args.quick else max(5, runs), base.chunk_bytes,
                  base.chunk_runs)
    info = context("cpu", args.quick)
    print_context(info)
    articles = load_orangesum()
    settings = offline_settings()
    rows = [article_row(a, settings, scale.runs) for a in articles[:scale.articles]]
    summaries = {v: variant_summary(rows, v) for v in ("offline", "llm_stub")}
    print(f"Per-article CPU, ms (median of {scale.runs} runs after 1 warm-up)\n")
    print_articles(rows)
    print()
    print_variants(summaries)
    print(f"\nChunking throughput (median of {scale.chunk_runs} runs after 1 warm-up)")
    chunks = chunking(articles, scale)
    print_chunking(chunks)
    print_summary(summaries, chunks)
    data = {"runs": scale.runs, "target_ms": TARGET_MS, "articles": rows,
            "summary": summaries, "chunking": chunks}
    stub, offline = summaries["llm_stub"], summaries["offline"]
    finish(info, result_name("cpu", args.quick), data, {
        "offline_median_cpu_ms": round(offline["median_cpu_ms"], 2),
        "llm_stub_median_cpu_ms": round(stub["median_cpu_ms"], 2),
        "llm_stub_vs_offline": round(ratio(stub["median_cpu_ms"], offline["median_cpu_ms"]), 3),
        "cpu_pass": offline["passes"] and stub["passes"],
        "chunk_cpu_mb_s": round(chunks["measures"][0]["cpu_mb_s"], 2),
        "chunk_vs_count_tokens": round(chunks["measures"][0]["cpu_vs_count_tokens"], 3),
        "chunk_pass": chunks["passes"]})


if __name__ == "__main__":
    main()
