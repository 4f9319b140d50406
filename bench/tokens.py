"""Token budget: LLM input tokens per story, against the article's own tokens.

Target: for both briefs together, input <= 1.15 x article tokens + 800 per
OrangeSum article (single pass), and <= 1.3 x article tokens for a ~100k-token
document (map-reduce). The baseline, measured in the same run, is one call per
language: the same pipeline run once with languages ("fr",) and once with ("en",).

The LLM is the project's fake OpenAI-compatible server (tests/fakes), whose
reply is built from each request by `answer_data` here: a valid answer whose
quotes are copied verbatim from the numbered sentences (or candidate quotes) it
was sent, and whose points restate the numbered sentences after the headline's,
each citing its own id ("S1:3", by the prompt's `[3]`): whole up to 30 words,
else their first 20. Map-step notes do the same; a reduce step's points are its
first notes, citing the ids the notes carry (`- note [S1:3]`). Its
usage.prompt_tokens counts every message content + 4 per message + the JSON
schema, with cl100k_base. The fake runs in a child process (`--in-process`: in
this one); the script recounts every request it received and checks the sum
against the usage the pipeline reports, and stops when a run is not clean (a
note, a retry, a point dropped or replaced: this fake's points must all pass).

Points: per story, the retries (requests carrying the retry prompt) and the
points proposed, supported, retried, dropped and replaced. Output tokens: for
every answer the fake sends, its completion tokens (cl100k_base, as the fake
counts them) and those of the same answer with points and notes as plain
strings (the schema before points carried their support), the baseline in the
same run; medians per story and per brief (a story's answers / 2 briefs), and
the ratio. `--prompts-before REV` also counts the fixed prompts (brief_system,
map_system, reduce_user) as they were at git revision REV (read-only `git show`)
against now, filled with the same default settings.

Run: .venv/bin/python -m bench.tokens            (about 5 s)
     .venv/bin/python -m bench.tokens --prompts-before 6872ed3
     .venv/bin/python -m bench.tokens --quick    (3 articles, a 30k-token document)
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import MODEL, Article, load_orangesum, long_document, story_from_text, tokens
from bench.harness import (
    ROOT,
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
from tests.fakes.briefs import RETRY_MARK
from tests.fakes.openai_server import FakeOpenAI, Reply, count_tokens, prompt_tokens

SINGLE_FACTOR, SINGLE_ALLOWANCE = 1.15, 800
LONG_FACTOR = 1.3
LANGUAGES = ("fr", "en")
LONG_TOKENS, QUICK_LONG_TOKENS = 100_000, 30_000  # both above one call's budget: map-reduce
QUICK_ARTICLES = 3

# ---------------------------------------------------------------- the fake model's answers

_SOURCE_OPEN = re.compile(r'^<source id="([^"]+)"')
_NUMBERED = re.compile(r"^\[(\d+)\] (.+)$")
_CANDIDATE = re.compile(r'^- quote \[([^\]]+)\]: "(.+)"$')
# A map step's note in the reduce prompt: "- note text [S1:3, S1:4]".
_NOTE = re.compile(r"^- (?!quote \[)(.+) \[((?:S\d+:\d+(?:, )?)+)\]$")
_SCHEMA_MARK = "this JSON schema:"  # json_format.txt: "It must follow this JSON schema: ..."
POINT_WORDS = (6, 30)  # a point restates one whole sentence of this many words,
CUT_WORDS = 20  # or the first words of a longer one


@dataclass(frozen=True)
class Passage:
    """A numbered sentence of the prompt (`ref` "S1:3", as the prompt numbers it) or a
    candidate quote of a reduce prompt (`ref` None)."""

    source: str
    text: str
    ref: str | None = None


def _passages(text: str) -> list[Passage]:
    """Every numbered sentence and candidate quote of a prompt, in order."""
    found: list[Passage] = []
    source = "S1"
    for line in text.splitlines():
        if opened := _SOURCE_OPEN.match(line):
            source = opened.group(1)
        elif numbered := _NUMBERED.match(line):
            found.append(Passage(source, numbered.group(2), f"{source}:{numbered.group(1)}"))
        elif candidate := _CANDIDATE.match(line):
            found.append(Passage(candidate.group(1), candidate.group(2)))
    return found


def _notes(text: str) -> list[dict[str, Any]]:
    """The notes of a reduce prompt, each with the sentence ids it carries."""
    return [{"text": m.group(1), "support": m.group(2).split(", ")}
            for line in text.splitlines() if (m := _NOTE.match(line))]


def _quotable(passages: list[Passage], n: int) -> list[Passage]:
    """Up to `n` passages fit to quote: 8-40 words preferred, else any of 3-60 words."""
    clean = [p for p in passages if "\\" not in p.text]  # skip text defused by the formatter
    good = [p for p in clean if 8 <= len(p.text.split()) <= 40]
    fallback = [p for p in clean if 3 <= len(p.text.split()) <= 60 and p not in good]
    return (good + fallback)[:n]


def _grounded(passages: list[Passage], n: int) -> list[dict[str, Any]]:
    """Up to `n` points (or notes) restating the numbered sentences in order, each citing
    its own id: whole up to `POINT_WORDS[1]` words, else its first `CUT_WORDS` words."""
    low, high = POINT_WORDS
    found = []
    for p in passages:
        size = len(p.text.split())
        if p.ref is None or "\\" in p.text or size < low:
            continue
        found.append({"text": p.text if size <= high else _words(p.text, CUT_WORDS),
                      "support": [p.ref]})
    return found[:n]


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


def _quote(passage: Passage, lang: str | None) -> dict[str, Any]:
    text = passage.text
    translation = f"[{lang}] {_words(text, 12)}" if lang not in (None, "fr") else None
    return {"text": text, "source": passage.source, "translation": translation}


def _brief(passages: list[Passage], notes: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """A headline (the first passage's first words), two points restating the sentences
    after it (a reduce step's: its first notes, with their ids) and two verbatim quotes."""
    texts = [p.text for p in passages] or ["Rien à signaler."]
    return {
        "headline": _words(texts[0], 12),
        "points": _grounded(passages[1:], 2) or notes[:2],
        "quotes": [_quote(p, lang) for p in _quotable(passages, 2)],
    }


def answer_data(request: dict[str, Any]) -> dict[str, Any]:
    """The fake model's answer: a valid brief per language (or map-step notes) built from the
    request itself, every point and note citing the sentences it restates."""
    schema = _schema(request)
    prompt = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    passages = _passages(prompt)
    if "notes" in schema.get("required", []):
        return {"notes": _grounded(passages, 3),
                "quotes": [_quote(p, None) for p in _quotable(passages, 2)]}
    notes = _notes(prompt)
    return {lang: _brief(passages, notes, lang) for lang in schema["required"]}


def without_support(data: dict[str, Any]) -> dict[str, Any]:
    """The same answer with points and notes as plain strings (the schema before #11)."""
    def plain(items: list[Any]) -> list[Any]:
        return [p["text"] if isinstance(p, dict) else p for p in items]
    if "notes" in data:
        return {**data, "notes": plain(data["notes"])}
    return {lang: {**brief, "points": plain(brief["points"])} for lang, brief in data.items()}


def completion_tokens(data: dict[str, Any]) -> int:
    """Output tokens of an answer as the fake counts them (cl100k_base, the JSON it sends)."""
    return count_tokens(json.dumps(data, ensure_ascii=False))


def answer(request: dict[str, Any]) -> Reply:
    """The fake model's reply to one request."""
    return Reply.json(answer_data(request))


# ---------------------------------------------------------------- the fake server


@dataclass(frozen=True)
class Sent:
    """What the fake answered to one request: output tokens as sent and with plain-string
    points, and whether the request was the pipeline's retry."""

    output_tokens: int
    plain_output_tokens: int
    retry: bool


class TokenServer:
    """The fake LLM with `answer` as its default reply; what its requests and answers cost."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.fake = FakeOpenAI(default=self._reply).start()

    def _reply(self, request: dict[str, Any]) -> Reply:
        data = answer_data(request)
        last = str(request["messages"][-1].get("content", ""))
        self.sent.append(Sent(completion_tokens(data), completion_tokens(without_support(data)),
                              RETRY_MARK in last))
        return Reply.json(data)

    def base_url(self) -> str:
        """Where the fake listens (127.0.0.1)."""
        return self.fake.base_url

    def calls(self) -> int:
        """Chat requests received so far."""
        return self.fake.calls

    def prompt_tokens(self, since: int) -> list[int]:
        """The fake's own prompt-token count of each chat request after the first `since`."""
        return [prompt_tokens(r.json) for r in self.fake.chat_requests[since:]]

    def answers(self, since: int) -> list[Sent]:
        """What the fake answered to each chat request after the first `since`."""
        return self.sent[since:]

    def close(self) -> None:
        """Stop the fake."""
        self.fake.stop()


# ---------------------------------------------------------------- running the pipeline


@dataclass
class Run:
    """LLM cost of one story under one language configuration, and how its points fared."""

    calls: int
    input_tokens: int
    output_tokens: int
    per_call: list[int]
    plain_output_tokens: int = 0  # the same answers with points as plain strings
    retries: int = 0  # requests that were the pipeline's retry
    points_proposed: int = 0
    points_supported: int = 0
    points_retried: int = 0
    points_dropped: int = 0
    points_fallback: int = 0


def settings_for(base_url: str, languages: tuple[str, ...], response_format: str) -> Settings:
    """Default settings (no briefing.toml, no environment) with the LLM at the fake."""
    llm = {"engine": "llm", "base_url": base_url, "api_key": "dummy", "model": MODEL,
           "timeout": 60.0, "max_retries": 0, "response_format": response_format}
    return Settings.model_validate({"llm": llm, "brief": {"languages": languages}})


def run(fake: Served, story: Story, settings: Settings) -> Run:
    """Summarise `story` through the real pipeline; fail loudly if the LLM was not used
    cleanly (a note, a retry, a point dropped or replaced) or the counts disagree."""
    before: int = fake.call("calls")
    result = summarise(story, settings)
    if result.engine != "llm" or result.notes:
        sys.exit(f"the pipeline did not use the fake LLM cleanly: {result.engine} {result.notes}")
    per_call: list[int] = fake.call("prompt_tokens", before)
    sent: list[Sent] = fake.call("answers", before)
    usage, c = result.usage, result.citations
    if sum(per_call) != usage.prompt_tokens:
        sys.exit(f"usage {usage.prompt_tokens} != the fake's own count {sum(per_call)}")
    output = sum(s.output_tokens for s in sent)
    if output != usage.completion_tokens or len(sent) != usage.calls:
        sys.exit(f"usage {usage.completion_tokens} output tokens in {usage.calls} calls != the "
                 f"fake's own count {output} in {len(sent)}")
    retries = sum(s.retry for s in sent)
    if retries or c.points_retried or c.points_dropped or c.points_fallback:
        rejected = [(r.language, r.point.text, r.reason, r.hint) for r in result.rejected_points]
        sys.exit(f"the good fake's points did not all pass: {retries} retries, {rejected}")
    return Run(usage.calls, usage.prompt_tokens, usage.completion_tokens, per_call,
               sum(s.plain_output_tokens for s in sent), retries, c.points_proposed,
               c.points_supported, c.points_retried, c.points_dropped, c.points_fallback)


def measure(fake: Served, story: Story, response_format: str) -> tuple[Run, Run]:
    """(both briefs in one pipeline run, baseline: one run per language summed)."""
    url: str = fake.call("base_url")
    both = run(fake, story, settings_for(url, LANGUAGES, response_format))
    alone = [run(fake, story, settings_for(url, (lang,), response_format))
             for lang in LANGUAGES]
    baseline = Run(sum(r.calls for r in alone), sum(r.input_tokens for r in alone),
                   sum(r.output_tokens for r in alone), [])
    return both, baseline


def outcome(both: Run) -> dict[str, Any]:
    """What a story's run (both briefs in one) cost in output and how its points fared."""
    return {
        "output_tokens": both.output_tokens, "plain_output_tokens": both.plain_output_tokens,
        "output_per_brief": both.output_tokens / len(LANGUAGES),
        "plain_output_per_brief": both.plain_output_tokens / len(LANGUAGES),
        "output_vs_plain": ratio(both.output_tokens, both.plain_output_tokens),
        "retries": both.retries, "points_proposed": both.points_proposed,
        "points_supported": both.points_supported, "points_retried": both.points_retried,
        "points_dropped": both.points_dropped, "points_fallback": both.points_fallback,
    }


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
        "passes": both.input_tokens <= limit,
        "baseline_calls": baseline.calls, "baseline_input_tokens": baseline.input_tokens,
        "vs_baseline": ratio(both.input_tokens, baseline.input_tokens),
        **outcome(both),
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
        "passes": share <= LONG_FACTOR,
        "largest_call_with_output": largest, "context_tokens": llm.context_tokens,
        "fits_context": largest <= llm.context_tokens,
        "baseline_calls": baseline.calls, "baseline_input_tokens": baseline.input_tokens,
        "baseline_ratio": ratio(baseline.input_tokens, article_tokens),
        "vs_baseline": ratio(both.input_tokens, baseline.input_tokens),
        **outcome(both),
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


# ---------------------------------------------------------------- points: retries, output


def points_summary(rows: list[dict[str, Any]], long: dict[str, Any]) -> dict[str, Any]:
    """Retries and points of the good fake, and the output tokens grounding costs: medians
    per story and per brief with the support ids, against the same answers without."""
    def part(items: list[dict[str, Any]]) -> dict[str, Any]:
        with_ids = median([r["output_tokens"] for r in items])
        plain = median([r["plain_output_tokens"] for r in items])
        return {
            "stories": len(items), "stories_retried": sum(r["retries"] > 0 for r in items),
            "calls_per_story": median([r["calls"] for r in items]),
            "points_proposed": sum(r["points_proposed"] for r in items),
            "points_supported": sum(r["points_supported"] for r in items),
            "points_retried": sum(r["points_retried"] for r in items),
            "points_dropped": sum(r["points_dropped"] for r in items),
            "points_fallback": sum(r["points_fallback"] for r in items),
            "median_output_per_story": with_ids, "median_plain_output_per_story": plain,
            "median_output_per_brief": median([r["output_per_brief"] for r in items]),
            "median_plain_output_per_brief": median([r["plain_output_per_brief"]
                                                     for r in items]),
            "median_extra_per_brief": median([r["output_per_brief"] - r["plain_output_per_brief"]
                                              for r in items]),
            "median_ratio": median([r["output_vs_plain"] for r in items]),
            "ratio_of_medians": ratio(with_ids, plain),
        }
    return {"orangesum": part(rows), "long_document": part([long])}


def print_points(summary: dict[str, Any]) -> None:
    """Retries of the good fake, and output tokens with and without support ids."""
    names = {"orangesum": "OrangeSum (single pass)", "long_document": "long (map-reduce)"}
    print("Points of the good fake (each cites the sentence it restates); both briefs in one "
          "run per story")
    print_table(
        ["stories", "n", "retried", "calls/story", "proposed", "supported", "retried pts",
         "dropped", "fallback"],
        [[names[k], p["stories"], p["stories_retried"], f"{p['calls_per_story']:g}",
          p["points_proposed"], p["points_supported"], p["points_retried"], p["points_dropped"],
          p["points_fallback"]] for k, p in summary.items()])
    print("\nOutput tokens (cl100k_base, as the fake counts them): every answer the fake sent, "
          "with support ids, and the same answers with points as plain strings (baseline, "
          "this run); per brief = per story / 2 briefs; medians over stories")
    print_table(
        ["stories", "per story", "plain", "per brief", "plain", "+tokens/brief", "ratio"],
        [[names[k], f"{p['median_output_per_story']:g}", f"{p['median_plain_output_per_story']:g}",
          f"{p['median_output_per_brief']:g}", f"{p['median_plain_output_per_brief']:g}",
          f"{p['median_extra_per_brief']:g}", times(p["median_ratio"])]
         for k, p in summary.items()])


# ---------------------------------------------------------------- the prompts before


PROMPTS = ("brief_system", "map_system", "reduce_user")


def _git_show(rev: str, path: str) -> str | None:
    """A file's text at `rev` (read-only `git show`), or None when git cannot give it."""
    try:
        done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True,
                              check=False, timeout=30,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


def _rendered(template: str, settings: Settings) -> str:
    """A prompt as the engine fills it with default settings; the story's own parts (the
    sources, the notes) left empty."""
    cfg = settings.brief
    values = {"languages": ", ".join(LANGUAGES), "max_points": cfg.max_points,
              "max_words": cfg.max_words, "min_quotes": cfg.min_quotes,
              "max_quotes": cfg.max_quotes, "sources": "", "notes": ""}
    return string.Template(template).safe_substitute({k: str(v) for k, v in values.items()})


def prompt_growth(rev: str) -> list[dict[str, Any]]:
    """Tokens of each fixed prompt at `rev` and now, filled the same way, same encoding."""
    settings = Settings()
    rows = []
    for name in PROMPTS:
        now = (settings.prompts_dir / f"{name}.txt").read_text(encoding="utf-8")
        before = _git_show(rev, f"briefing/prompts/{name}.txt")
        if before is None:
            sys.exit(f"git show {rev}:briefing/prompts/{name}.txt failed")
        then, later = tokens(_rendered(before, settings)), tokens(_rendered(now, settings))
        rows.append({"prompt": name, "before": then, "now": later, "added": later - then,
                     "ratio": ratio(later, then)})
    return rows


def print_prompts(rev: str, rows: list[dict[str, Any]]) -> None:
    """The prompt growth table."""
    print(f"Fixed prompts at {rev} (git show) and now, filled with the default settings, "
          "sources and notes left empty; cl100k_base")
    print_table(["prompt", f"at {rev}", "now", "added", "ratio"],
                [[r["prompt"], r["before"], r["now"], r["added"], times(r["ratio"])]
                 for r in rows])


# ---------------------------------------------------------------- main


def print_summary(summary: dict[str, Any], long: dict[str, Any],
                  points: dict[str, Any]) -> None:
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
    o = points["orangesum"]
    print(f"Good fake: {o['stories_retried']}/{o['stories']} OrangeSum stories retried, "
          f"{o['calls_per_story']:g} call per story; {o['points_supported']} of "
          f"{o['points_proposed']} points supported; output per brief "
          f"{o['median_output_per_brief']:g} tokens with support ids vs "
          f"{o['median_plain_output_per_brief']:g} without (median ratio "
          f"{times(o['median_ratio'])})")


def main(argv: Sequence[str] | None = None) -> None:
    """Run every story through the pipeline against the fake LLM and report."""
    options = parser(__doc__, servers=True)
    options.add_argument("--response-format", choices=["json_schema", "json_object"],
                         default="json_schema", help="how the schema reaches the model")
    options.add_argument("--prompts-before", metavar="REV",
                         help="also count the fixed prompts as they were at git revision REV "
                              "(read with git show) against now")
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
    points = points_summary(rows, long)
    print(f"Input tokens per story, response_format={args.response_format}, "
          f"encoding cl100k_base (offline), model {MODEL!r}; baseline: the same pipeline once "
          f"per language, in this run; fake LLM {fake.where}\n")
    print("over = input - article tokens; limit = 1.15 x article + 800; margin = limit - input")
    print_articles(rows)
    print()
    print_long(long)
    print()
    print_points(points)
    growth = prompt_growth(args.prompts_before) if args.prompts_before else []
    if growth:
        print()
        print_prompts(args.prompts_before, growth)
    print_summary(summary, long, points)
    name = "tokens" if args.response_format == "json_schema" else f"tokens-{args.response_format}"
    data = {"response_format": args.response_format, "articles": rows, "summary": summary,
            "long_document": long, "points": points,
            "prompts_before": {"rev": args.prompts_before, "prompts": growth}}
    o = points["orangesum"]
    finish(info, result_name(name, args.quick), data, {
        "median_ratio": round(summary["median_ratio"], 3),
        "worst_margin": round(summary["worst_margin"]),
        "all_pass": summary["all_pass"],
        "vs_baseline": round(summary["total_vs_baseline"], 3),
        "long_ratio": round(long["ratio"], 3), "long_pass": long["passes"],
        "long_vs_baseline": round(long["vs_baseline"], 3),
        "stories_retried": o["stories_retried"] + points["long_document"]["stories_retried"],
        "output_per_brief": o["median_output_per_brief"],
        "plain_output_per_brief": o["median_plain_output_per_brief"],
        "output_vs_plain": round(o["median_ratio"], 3)})


if __name__ == "__main__":
    main()
