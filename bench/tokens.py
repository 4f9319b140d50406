"""Token budget: LLM input tokens per story, against the article's own tokens.

Target: for both briefs together, input <= 1.15 x article tokens + 800 per
OrangeSum article (single pass), and <= 1.3 x article tokens for a ~100k-token
document (map-reduce). The baseline, measured in the same run, is one call per
language: the same pipeline run once with languages ("fr",) and once with ("en",).

The LLM is the project's fake OpenAI-compatible server (tests/fakes), whose
default reply is built from each request: a valid answer whose quotes are
copied verbatim from the numbered sentences (or candidate quotes) it was sent.
Its usage.prompt_tokens counts every message content + 4 per message + the JSON
schema, with cl100k_base. The fake runs in a child process (`--in-process`: in
this one); the script recounts every request it received and checks the sum
against the usage the pipeline reports.

Run: .venv/bin/python -m bench.tokens            (about 5 s)
     .venv/bin/python -m bench.tokens --quick    (3 articles, a 30k-token document)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import MODEL, Article, load_orangesum, long_document, story_from_text, tokens
from bench.harness import (
    Served,
    context,
    finish,
    median,
    parser,
    print_context,
    print_table,
    ratio,
    result_name,
    times,
    yes_no,
)
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.sources.models import Story
from tests.fakes.openai_server import FakeOpenAI, Reply, prompt_tokens

SINGLE_FACTOR, SINGLE_ALLOWANCE = 1.15, 800
LONG_FACTOR = 1.3
LANGUAGES = ("fr", "en")
LONG_TOKENS, QUICK_LONG_TOKENS = 100_000, 30_000  # both above one call's budget: map-reduce
QUICK_ARTICLES = 3

# ---------------------------------------------------------------- the fake model's answers

_SOURCE_OPEN = re.compile(r'^<source id="([^"]+)"')
_NUMBERED = re.compile(r"^\[\d+\] (.+)$")
_CANDIDATE = re.compile(r'^- quote \[([^\]]+)\]: "(.+)"$')
_SCHEMA_MARK = "follows this JSON schema:"


def _passages(text: str) -> list[tuple[str, str]]:
    """(source id, text) of every numbered sentence and candidate quote in a prompt."""
    found: list[tuple[str, str]] = []
    source = "S1"
    for line in text.splitlines():
        if opened := _SOURCE_OPEN.match(line):
            source = opened.group(1)
        elif numbered := _NUMBERED.match(line):
            found.append((source, numbered.group(1)))
        elif candidate := _CANDIDATE.match(line):
            found.append((candidate.group(1), candidate.group(2)))
    return found


def _quotable(passages: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """Up to `n` passages fit to quote: 8-40 words preferred, else any of 3-60 words."""
    clean = [p for p in passages if "\\" not in p[1]]  # skip text defused by the formatter
    good = [p for p in clean if 8 <= len(p[1].split()) <= 40]
    fallback = [p for p in clean if 3 <= len(p[1].split()) <= 60 and p not in good]
    return (good + fallback)[:n]


def _words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def _schema(request: dict[str, Any]) -> dict[str, Any]:
    """The answer's JSON schema: from response_format, or from the system message."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"]["schema"])
    system = request["messages"][0]["content"]
    tail = system[system.rindex(_SCHEMA_MARK) + len(_SCHEMA_MARK):].lstrip()
    schema, _ = json.JSONDecoder().raw_decode(tail)
    return dict(schema)


def _quote(source: str, text: str, lang: str | None) -> dict[str, Any]:
    translation = f"[{lang}] {_words(text, 12)}" if lang not in (None, "fr") else None
    return {"text": text, "source": source, "translation": translation}


def _brief(passages: list[tuple[str, str]], lang: str) -> dict[str, Any]:
    texts = [t for _, t in passages] or ["Rien à signaler."]
    return {
        "headline": _words(texts[0], 12),
        "points": [_words(t, 20) for t in texts[1:3]],
        "quotes": [_quote(s, t, lang) for s, t in _quotable(passages, 2)],
    }


def answer(request: dict[str, Any]) -> Reply:
    """The fake model: a valid brief (or map-step notes) built from the request itself."""
    schema = _schema(request)
    prompt = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    passages = _passages(prompt)
    if "notes" in schema.get("required", []):
        notes = [_words(t, 20) for _, t in passages[:3]]
        return Reply.json({"notes": notes,
                           "quotes": [_quote(s, t, None) for s, t in _quotable(passages, 2)]})
    return Reply.json({lang: _brief(passages, lang) for lang in schema["required"]})


# ---------------------------------------------------------------- the fake server


class TokenServer:
    """The fake LLM with `answer` as its default reply; what its requests cost."""

    def __init__(self) -> None:
        self.fake = FakeOpenAI(default=answer).start()

    def base_url(self) -> str:
        """Where the fake listens (127.0.0.1)."""
        return self.fake.base_url

    def calls(self) -> int:
        """Chat requests received so far."""
        return self.fake.calls

    def prompt_tokens(self, since: int) -> list[int]:
        """The fake's own prompt-token count of each chat request after the first `since`."""
        return [prompt_tokens(r.json) for r in self.fake.chat_requests[since:]]

    def close(self) -> None:
        """Stop the fake."""
        self.fake.stop()


# ---------------------------------------------------------------- running the pipeline


@dataclass
class Run:
    """LLM cost of one story under one language configuration."""

    calls: int
    input_tokens: int
    output_tokens: int
    per_call: list[int]


def settings_for(base_url: str, languages: tuple[str, ...], response_format: str) -> Settings:
    """Default settings (no briefing.toml, no environment) with the LLM at the fake."""
    llm = {"engine": "llm", "base_url": base_url, "api_key": "dummy", "model": MODEL,
           "timeout": 60.0, "max_retries": 0, "response_format": response_format}
    return Settings.model_validate({"llm": llm, "brief": {"languages": languages}})


def run(fake: Served, story: Story, settings: Settings) -> Run:
    """Summarise `story` through the real pipeline; fail loudly if the LLM was not used."""
    before: int = fake.call("calls")
    result = summarise(story, settings)
    if result.engine != "llm" or result.notes:
        sys.exit(f"the pipeline did not use the fake LLM cleanly: {result.engine} {result.notes}")
    per_call: list[int] = fake.call("prompt_tokens", before)
    usage = result.usage
    if sum(per_call) != usage.prompt_tokens:
        sys.exit(f"usage {usage.prompt_tokens} != the fake's own count {sum(per_call)}")
    return Run(usage.calls, usage.prompt_tokens, usage.completion_tokens, per_call)


def measure(fake: Served, story: Story, response_format: str) -> tuple[Run, Run]:
    """(both briefs in one pipeline run, baseline: one run per language summed)."""
    url: str = fake.call("base_url")
    both = run(fake, story, settings_for(url, LANGUAGES, response_format))
    alone = [run(fake, story, settings_for(url, (lang,), response_format))
             for lang in LANGUAGES]
    baseline = Run(sum(r.calls for r in alone), sum(r.input_tokens for r in alone),
                   sum(r.output_tokens for r in alone), [])
    return both, baseline


# ---------------------------------------------------------------- OrangeSum: single pass


def single_limit(article_tokens: int) -> float:
    """The most input tokens one story may cost: 1.15 x article + 800."""
    return SINGLE_FACTOR * article_tokens + SINGLE_ALLOWANCE


def article_row(fake: Served, article: Article, response_format: str) -> dict[str, Any]:
    """Cost of one OrangeSum article, with its baseline and verdict."""
    story = story_from_text(article.text, f"{article.id}.txt")
    article_tokens = tokens(story.sources[0].text)
    both, baseline = measure(fake, story, response_format)
    limit = single_limit(article_tokens)
    return {
        "id": article.id, "article_tokens": article_tokens, "calls": both.calls,
        "input_tokens": both.input_tokens, "ratio": both.input_tokens / article_tokens,
        "overhead": both.input_tokens - article_tokens,
        "limit": limit, "margin": limit - both.input_tokens,
        "passes": both.input_tokens <= limit, "output_tokens": both.output_tokens,
        "baseline_calls": baseline.calls, "baseline_input_tokens": baseline.input_tokens,
        "vs_baseline": ratio(both.input_tokens, baseline.input_tokens),
    }


def print_articles(rows: list[dict[str, Any]]) -> None:
    """The per-article table."""
    headers = ["article", "art.tok", "calls", "input", "over", "ratio", "limit", "margin", "pass",
               "base.calls", "base.input", "1call/base"]
    print_table(headers, [
        [r["id"], r["article_tokens"], r["calls"], r["input_tokens"], r["overhead"],
         f"{r['ratio']:.3f}",
         f"{r['limit']:.0f}", f"{r['margin']:.0f}", yes_no(r["passes"]), r["baseline_calls"],
         r["baseline_input_tokens"], times(r["vs_baseline"])]
        for r in rows
    ])


def article_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median ratio, worst margin, verdict, and totals against the baseline."""
    worst = min(rows, key=lambda r: r["margin"])
    total = sum(r["input_tokens"] for r in rows)
    base = sum(r["baseline_input_tokens"] for r in rows)
    return {
        "articles": len(rows), "median_ratio": median([r["ratio"] for r in rows]),
        "max_ratio": max(r["ratio"] for r in rows),
        "median_overhead": median([r["overhead"] for r in rows]),
        "worst_margin": worst["margin"], "worst_article": worst["id"],
        "all_pass": all(r["passes"] for r in rows),
        "total_article_tokens": sum(r["article_tokens"] for r in rows),
        "total_input_tokens": total, "total_baseline_input_tokens": base,
        "total_vs_baseline": ratio(total, base),
    }


# ---------------------------------------------------------------- the long document


def long_row(fake: Served, articles: Sequence[Article], min_tokens: int,
             response_format: str) -> dict[str, Any]:
    """Cost of the long document (map-reduce), with its baseline and verdict."""
    story = story_from_text(long_document(articles, min_tokens), "long.txt")
    article_tokens = tokens(story.sources[0].text)
    both, baseline = measure(fake, story, response_format)
    share = ratio(both.input_tokens, article_tokens)
    llm = settings_for(fake.call("base_url"), LANGUAGES, response_format).llm
    largest = max(both.per_call) + llm.max_output_tokens
    return {
        "article_tokens": article_tokens, "chars": len(story.sources[0].text),
        "calls": both.calls, "map_calls": both.calls - 1,
        "map_call_input_tokens": both.per_call[:-1], "reduce_input_tokens": both.per_call[-1],
        "input_tokens": both.input_tokens, "ratio": share, "target": LONG_FACTOR,
        "passes": share <= LONG_FACTOR, "output_tokens": both.output_tokens,
        "largest_call_with_output": largest, "context_tokens": llm.context_tokens,
        "fits_context": largest <= llm.context_tokens,
        "baseline_calls": baseline.calls, "baseline_input_tokens": baseline.input_tokens,
        "baseline_ratio": ratio(baseline.input_tokens, article_tokens),
        "vs_baseline": ratio(both.input_tokens, baseline.input_tokens),
    }


def print_long(row: dict[str, Any]) -> None:
    """The long-document table."""
    print_table(
        ["document", "art.tok", "calls", "input", "ratio", "target", "pass", "base.calls",
         "base.input", "base.ratio", "1call/base"],
        [["long (map-reduce)", row["article_tokens"], row["calls"], row["input_tokens"],
          f"{row['ratio']:.3f}", f"<= {LONG_FACTOR}", yes_no(row["passes"]),
          row["baseline_calls"], row["baseline_input_tokens"], f"{row['baseline_ratio']:.3f}",
          times(row["vs_baseline"])]],
    )
    maps = row["map_call_input_tokens"]
    print(f"map calls: {len(maps)}, input per map call {min(maps)}-{max(maps)}; "
          f"reduce call input: {row['reduce_input_tokens']}")
    print(f"largest call: input + max_output_tokens = {row['largest_call_with_output']} "
          f"vs context_tokens {row['context_tokens']}: "
          f"{'fits' if row['fits_context'] else 'EXCEEDS the context window'}")


# ---------------------------------------------------------------- main


def print_summary(summary: dict[str, Any], long: dict[str, Any]) -> None:
    """The figures to quote."""
    print("\nSUMMARY")
    print(f"OrangeSum single pass ({summary['articles']} articles): "
          f"median ratio {summary['median_ratio']:.3f}, max ratio {summary['max_ratio']:.3f}, "
          f"median overhead {summary['median_overhead']:.0f} tokens, "
          f"worst margin {summary['worst_margin']:.0f} tokens ({summary['worst_article']}), "
          f"all within 1.15 x article + 800: {yes_no(summary['all_pass'])}")
    print(f"OrangeSum totals: input {summary['total_input_tokens']} for "
          f"{summary['total_article_tokens']} article tokens; baseline (one call per language) "
          f"{summary['total_baseline_input_tokens']}; "
          f"single/baseline {summary['total_vs_baseline']:.3f}")
    print(f"Long document ({long['article_tokens']} tokens): {long['calls']} calls, "
          f"input {long['input_tokens']}, ratio {long['ratio']:.3f} (target <= {LONG_FACTOR}): "
          f"{'pass' if long['passes'] else 'FAIL'}; baseline {long['baseline_calls']} calls, "
          f"input {long['baseline_input_tokens']}, ratio {long['baseline_ratio']:.3f}; "
          f"single/baseline {long['vs_baseline']:.3f}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run every story through the pipeline against the fake LLM and report."""
    options = parser(__doc__, servers=True)
    options.add_argument("--response-format", choices=["json_schema", "json_object"],
                         default="json_schema", help="how the schema reaches the model")
    args = options.parse_args(argv)
    info = context("tokens", args.quick)
    print_context(info)
    articles = load_orangesum()
    chosen = articles[:QUICK_ARTICLES] if args.quick else articles
    long_tokens = QUICK_LONG_TOKENS if args.quick else LONG_TOKENS
    with Served(TokenServer, in_process=args.in_process) as fake:
        rows = [article_row(fake, a, args.response_format) for a in chosen]
        long = long_row(fake, articles, long_tokens, args.response_format)
    summary = article_summary(rows)
    print(f"Input tokens per story, response_format={args.response_format}, "
          f"encoding cl100k_base (offline), model {MODEL!r}; baseline: the same pipeline once "
          f"per language, in this run; fake LLM {fake.where}\n")
    print("over = input - article tokens; limit = 1.15 x article + 800; margin = limit - input")
    print_articles(rows)
    print()
    print_long(long)
    print_summary(summary, long)
    name = "tokens" if args.response_format == "json_schema" else f"tokens-{args.response_format}"
    data = {"response_format": args.response_format, "articles": rows, "summary": summary,
            "long_document": long}
    finish(info, result_name(name, args.quick), data, {
        "median_ratio": round(summary["median_ratio"], 3),
        "worst_margin": round(summary["worst_margin"]),
        "all_pass": summary["all_pass"],
        "vs_baseline": round(summary["total_vs_baseline"], 3),
        "long_ratio": round(long["ratio"], 3), "long_pass": long["passes"],
        "long_vs_baseline": round(long["vs_baseline"], 3)})


if __name__ == "__main__":
    main()
