"""Ingest and summarise throughput: 1,000 feed articles, a fake LLM that answers after 1 s.

Target (from the issue): summarising throughput >= 90% of the configured
concurrency / LLM latency; peak memory <= 300 MB.

1. 1,000 distinct French articles are built from the 20 OrangeSum articles: each
   one gets a lead paragraph and a title of its own, then sentences drawn at random
   from the whole corpus, every capitalised word (names) replaced by an invented
   name and every number by one no other article uses. So each article is a story
   of its own: no names or numbers shared, shingles mostly distinct.
2. They are served as 10 RSS feeds of 100 entries, full text in content:encoded
   (no page fetch), by the project's fake web server; `ingest_feeds` polls them
   into a fresh SQLite store (phase a: feeds -> articles and stories).
3. The fake OpenAI-compatible server answers every call after exactly 1.0 s with
   `tests/fakes/briefs.good_answer` (a valid brief, verbatim quotes, so no retry).
   For each concurrency C, a block of N pending stories (N = --stories, the other
   stories parked as summarised) goes through `summarise_pending` with
   `summarise_concurrency = C` and the store's LLM call log (phase b); the call
   log is emptied before each run so no answer comes from the cache.
   Throughput = stories / s against the ideal C / 1 s.

   Before the timed runs, one untimed warm-up run (max C stories, not reused)
   pays the once-per-process costs (tiktoken encoding, prompt templates), as a
   long-running service has.

The fakes run in a child process by default (the harness's `Served`), as a
remote server would be, so the peak RSS (`ru_maxrss`) is the service's own;
`--in-process` runs them in this process, as the tests do. `--tracemalloc` adds
a last, untimed pass that repeats ingest + one summarise run (fresh store) under
`tracemalloc`: the peak of what the work itself allocates, everything loaded
once per process (modules, the language model, the tiktoken encoding) being
loaded already. Besides the ideal, each run's throughput is given as a ratio to
the first (lowest) concurrency's, measured in the same run.

Run: .venv/bin/python -m bench.ingest                       (N = 240, C = 4 8 16; ~2.5 min)
     .venv/bin/python -m bench.ingest --stories 1000 --concurrency 8   (the full 1,000)
     .venv/bin/python -m bench.ingest --quick      (120 articles, N = 16, C = 4 8; ~15 s)
"""

from __future__ import annotations

import html
import math
import random
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from bench.common import MODEL, Article, load_orangesum
from bench.harness import (
    Served,
    context,
    finish,
    median,
    parser,
    percentile,
    pick,
    print_context,
    print_table,
    ratio,
    result_name,
    rss_mb,
    times,
    yes_no,
)
from briefing.config import Settings
from briefing.service.ingest import ingest_feeds
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database, open_database
from briefing.store.models import ArticleRow, BriefRow, FeedRow, LLMCallRow, StoryRow
from briefing.text.sentences import split_sentences
from briefing.text.words import STOPWORDS, WORD, fold
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.web_server import FakeWebServer

ARTICLES, QUICK_ARTICLES, FEEDS = 1000, 120, 10
LATENCY = 1.0  # seconds the fake LLM waits before every answer
TARGET_THROUGHPUT = 0.90  # share of concurrency / latency
TARGET_RSS_MB = 300.0
MIN_BODY_WORDS = 280  # well above the feed teaser limit (150 words): no page fetch

# ---------------------------------------------------------------- distinct articles

_ELISION = re.compile(r"^(?:[dlnsjcmt]|qu|jusqu|lorsqu|puisqu)['’]", re.I)
_DIGITS = re.compile(r"\d+")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ve", "dun", "bel", "tor", "sa", "ni", "qua", "zen", "fo",
              "ri", "gal", "mar", "te", "vi", "nor", "pel", "bru", "cas", "do", "len", "mo", "pi",
              "sol", "tan", "u", "xe")
_ROLES = ("porte-parole", "directrice", "adjoint au maire", "avocate", "secrétaire générale",
          "responsable syndical", "chercheuse", "entraîneur")
_LEADS = (
    "{p}, {role} de {o}, a confirmé que {n} personnes étaient concernées.",
    "Selon {p}, {role} chez {o}, le dossier porte sur {n} euros au total.",
    "{p} ({o}) a annoncé un bilan de {n} cas, un chiffre jamais atteint jusqu'ici.",
    "À {o}, {p}, {role}, évoque {n} signalements reçus en quelques semaines.",
    "{p}, {role} auprès de {o}, affirme que {n} dossiers restent en suspens.",
)


@dataclass(frozen=True)
class FeedArticle:
    """One feed entry: a unique story."""

    number: int
    title: str
    paragraphs: tuple[str, ...]
    published: datetime

    @property
    def url(self) -> str:
        """The article's (invented) address."""
        return f"https://news{self.number % FEEDS}.example/articles/{self.number}.html"

    @property
    def words(self) -> int:
        """Words in the article's paragraphs."""
        return sum(len(p.split()) for p in self.paragraphs)


class Inventor:
    """Invented names and numbers, never handed out twice."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[str] = set()

    def name(self) -> str:
        """A new capitalised name, never a stopword."""
        while True:
            count = self.rng.choice((2, 3, 3, 4))
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(count)).capitalize()
            if word not in self.used and fold(word) not in STOPWORDS:
                self.used.add(word)
                return word

    def acronym(self) -> str:
        """A new four-letter acronym."""
        while True:
            word = "".join(self.rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(4))
            if word not in self.used:
                self.used.add(word)
                return word


class Rewriter:
    """Rewrites one article's text: its own names (consistently) and its own numbers."""

    def __init__(self, number: int, inventor: Inventor) -> None:
        self.inventor = inventor
        self.names: dict[str, str] = {}
        self.next_number = 10_000 + number * 100  # 100 numbers per article, none shared

    def number(self) -> str:
        """The article's next number (none is shared with another article)."""
        value = self.next_number
        self.next_number += 1 if value % 100 < 99 else -99
        return str(value)

    def _name(self, word: str) -> str:
        if word not in self.names:
            letters = [c for c in word if c.isalpha()]
            acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
            self.names[word] = self.inventor.acronym() if acronym else self.inventor.name()
        return self.names[word]

    def _word(self, match: re.Match[str]) -> str:
        word = match.group()
        elided = _ELISION.match(word)
        head, rest = (word[: elided.end()], word[elided.end():]) if elided else ("", word)
        if len(rest) > 1 and rest[0].isupper() and fold(rest) not in STOPWORDS:
            return head + self._name(rest)
        return word

    def rewrite(self, text: str) -> str:
        """`text` with this article's numbers and names."""
        text = _DIGITS.sub(lambda _: self.number(), text)
        return WORD.sub(self._word, text)


def sentence_pool(articles: Sequence[Article]) -> list[str]:
    """Every sentence of the corpus of 5 to 60 words."""
    pool = []
    for article in articles:
        for span in split_sentences(article.text):
            sentence = " ".join(article.text[span.start:span.end].split())
            if 5 <= len(sentence.split()) <= 60:
                pool.append(sentence)
    return pool


def make_article(number: int, pool: Sequence[str], inventor: Inventor,
                 now: datetime) -> FeedArticle:
    """Article `number`: its own lead and title, then random corpus sentences, rewritten."""
    rng = random.Random(number)
    rewriter = Rewriter(number, inventor)
    person = f"{inventor.name()} {inventor.name()}"
    lead = rng.choice(_LEADS).format(p=person, role=rng.choice(_ROLES), o=inventor.name(),
                                     n=rewriter.number())
    body: list[str] = []
    for sentence in rng.sample(pool, len(pool)):
        body.append(rewriter.rewrite(sentence))
        if sum(len(s.split()) for s in body) >= MIN_BODY_WORDS:
            break
    paragraphs = (lead, *(" ".join(body[i:i + 3]) for i in range(0, len(body), 3)))
    title = f"{person} : {' '.join(body[0].split()[:9]).rstrip(',;:')}"
    published = now - timedelta(minutes=2.5 * number)  # spread over the last ~42 hours
    return FeedArticle(number, title, paragraphs, published)


def make_articles(count: int, now: datetime) -> list[FeedArticle]:
    """`count` distinct articles, newest first."""
    pool = sentence_pool(load_orangesum())
    inventor = Inventor(seed=2024)
    return [make_article(i, pool, inventor, now) for i in range(count)]


def rss(number: int, items: Sequence[FeedArticle]) -> bytes:
    """An RSS 2.0 feed with the full text of each item in content:encoded."""
    entries = []
    for item in items:
        markup = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in item.paragraphs)
        entries.append(
            f"<item><title>{html.escape(item.title)}</title><link>{item.url}</link>"
            f"<guid isPermaLink=\"true\">{item.url}</guid>"
            f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>"
            f"<description>{html.escape(item.paragraphs[0])}</description>"
            f"<content:encoded><![CDATA[{markup}]]></content:encoded></item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Bench feed {number}</title><link>https://news{number}.example/</link>"
        f"<description>bench</description>{''.join(entries)}</channel></rss>"
    ).encode()


def make_feeds(articles: Sequence[FeedArticle]) -> dict[str, bytes]:
    """Path -> RSS bytes: FEEDS feeds, articles dealt round-robin."""
    return {f"/feeds/{k}.xml": rss(k, [a for a in articles if a.number % FEEDS == k])
            for k in range(FEEDS)}


# ---------------------------------------------------------------- the fake servers


@dataclass(frozen=True)
class FakeStats:
    """What the fake LLM saw since its last reset."""

    calls: int
    peak_in_flight: int


class IngestServers:
    """The fake web server (the feeds) and the fake LLM (`latency` s per answer), started.

    Built by the harness's `Served`, in a child process or in this one.
    """

    def __init__(self, feeds: dict[str, bytes], latency: float) -> None:
        self.latency = latency
        self.web = FakeWebServer()
        for path, body in feeds.items():
            self.web.route(path, body, content_type="application/rss+xml; charset=utf-8")
        self.llm = FakeOpenAI(default=self.answer)
        self.lock = threading.Lock()
        self.starts: list[float] = []
        self.calls_before = 0
        self.web.start()
        self.llm.start()

    def answer(self, request: dict[str, Any]) -> Reply:
        """A valid brief with verbatim quotes, sent after `latency` seconds."""
        with self.lock:
            self.starts.append(time.monotonic())
        return Reply.content(good_answer(request)).with_delay(self.latency)

    def urls(self) -> tuple[str, str]:
        """(web server, LLM) base URLs on 127.0.0.1."""
        return self.web.base_url, self.llm.base_url

    def stats(self) -> FakeStats:
        """Calls and the most calls open at once, since the last reset."""
        with self.lock:
            starts = sorted(self.starts)
        return FakeStats(self.llm.calls - self.calls_before, peak_overlap(starts, self.latency))

    def reset(self) -> None:
        """Start counting afresh."""
        with self.lock:
            self.starts.clear()
        self.calls_before = self.llm.calls

    def close(self) -> None:
        """Stop both servers."""
        self.llm.stop()
        self.web.stop()


def peak_overlap(starts: Sequence[float], length: float) -> int:
    """Most intervals [start, start + length) open at once (starts sorted)."""
    peak, first = 0, 0
    for i, start in enumerate(starts):
        while starts[first] + length <= start:
            first += 1
        peak = max(peak, i - first + 1)
    return peak


class Fakes:
    """Typed access to the `IngestServers`, wherever `Served` runs them."""

    def __init__(self, feeds: dict[str, bytes], latency: float, in_process: bool) -> None:
        self.served = Served(IngestServers, feeds, latency, in_process=in_process)
        self.web_url, self.llm_url = self.served.call("urls")

    def stats(self) -> FakeStats:
        """What the fake LLM saw since the last reset."""
        stats: FakeStats = self.served.call("stats")
        return stats

    def reset(self) -> None:
        """Reset the fake LLM's counts."""
        self.served.call("reset")

    def close(self) -> None:
        """Stop the servers."""
        self.served.close()


# ---------------------------------------------------------------- the store and settings


def settings_for(fakes: Fakes, db_url: str, concurrency: int) -> Settings:
    """Built-in defaults, with the LLM and the feeds at the fakes."""
    llm = {"engine": "llm", "base_url": fakes.llm_url, "api_key": "dummy", "model": MODEL,
           "timeout": 30.0, "max_retries": 0}
    return Settings.model_validate({
        "llm": llm, "fetch": {"allow_private": True}, "store": {"url": db_url},
        "service": {"summarise_concurrency": concurrency, "max_entries_per_poll": 200},
    })


def open_store(db_url: str, fakes: Fakes) -> Database:
    """A fresh migrated SQLite store with the feeds registered."""
    db = open_database(settings_for(fakes, db_url, 1).store)
    with db.session() as session:
        session.add_all(FeedRow(url=f"{fakes.web_url}/feeds/{k}.xml") for k in range(FEEDS))
    return db


# ---------------------------------------------------------------- phase a: ingest


def ingest(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    """Poll every feed into the store; time it and count what was stored."""
    wall, cpu = time.perf_counter(), time.process_time()
    report = ingest_feeds(db, now, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if report.errors:
        sys.exit(f"feed errors: {report.errors}")
    with db.session() as session:
        articles = session.scalar(select(func.count(ArticleRow.id))) or 0
        sizes = session.execute(select(func.count(ArticleRow.id)).group_by(ArticleRow.story_id))
        per_story = [n for (n,) in sizes]
    current, peak = rss_mb()
    return {"feeds": report.polled, "stored": report.stored, "duplicates": report.duplicates,
            "articles": articles, "stories": len(per_story),
            "stories_with_several": sum(n > 1 for n in per_story),
            "largest_story": max(per_story, default=0), "seconds": wall, "cpu_seconds": cpu,
            "articles_per_second": articles / wall, "cpu_ms_per_article": 1000 * cpu / articles,
            "rss_mb": current, "peak_rss_mb": peak}


# ---------------------------------------------------------------- phase b: summarise


def story_ids(db: Database) -> list[int]:
    """Every story id, in order."""
    with db.session() as session:
        return list(session.scalars(select(StoryRow.id).order_by(StoryRow.id)))


def make_pending(db: Database, block: Sequence[int]) -> None:
    """Only `block` pending: the others parked as summarised; the LLM call log emptied."""
    with db.session() as session:
        session.execute(update(StoryRow).values(summarised_version=StoryRow.version))
        session.execute(update(StoryRow).where(StoryRow.id.in_(block)).values(summarised_version=0))
        session.execute(delete(BriefRow).where(BriefRow.story_id.in_(block)))
        session.execute(delete(LLMCallRow))


def call_latencies(db: Database) -> list[float]:
    """Seconds per LLM call as the engine logged them (client side)."""
    with db.session() as session:
        return [ms / 1000 for ms in session.scalars(select(LLMCallRow.duration_ms))]


def summarise_run(db: Database, fakes: Fakes, settings: Settings,
                  block: Sequence[int]) -> dict[str, Any]:
    """Summarise `block` with the settings' concurrency; throughput against the ideal."""
    concurrency = settings.service.summarise_concurrency
    make_pending(db, block)
    fakes.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    report = summarise_pending(db, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = fakes.stats()
    if report.failed or sorted(report.summarised) != sorted(block):
        sys.exit(f"C={concurrency}: {len(report.summarised)} summarised of {len(block)}, "
                 f"failed: {list(report.failed.items())[:3]}")
    latencies = call_latencies(db)
    done = len(block)
    throughput = done / wall
    ideal = concurrency / LATENCY
    ideal_makespan = math.ceil(done / concurrency) * LATENCY
    current, peak = rss_mb()
    return {
        "concurrency": concurrency, "stories": done, "seconds": wall, "cpu_seconds": cpu,
        "throughput": throughput, "ideal": ideal, "share_of_ideal": throughput / ideal,
        "ideal_seconds": ideal_makespan, "passes": throughput / ideal >= TARGET_THROUGHPUT,
        "calls": stats.calls, "calls_per_story": stats.calls / done,
        "peak_in_flight": stats.peak_in_flight,
        "call_latency_median": median(latencies), "call_latency_p95": percentile(latencies, 95),
        "slot_seconds_per_story": wall * concurrency / done,
        "cpu_ms_per_story": 1000 * cpu / done, "rss_mb": current, "peak_rss_mb": peak,
    }


def blocks(ids: Sequence[int], size: int, count: int) -> list[list[int]]:
    """`count` blocks of `size` story ids, disjoint while there are enough stories."""
    if size > len(ids):
        sys.exit(f"--stories {size}: only {len(ids)} stories in the store")
    return [[ids[(i * size + j) % len(ids)] for j in range(size)] for i in range(count)]


def summarise_all(db: Database, fakes: Fakes, db_url: str, stories: int,
                  concurrency: Sequence[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An untimed warm-up run on the last stories, then one timed run per concurrency."""
    ids = story_ids(db)
    warm = summarise_run(db, fakes, settings_for(fakes, db_url, max(concurrency)),
                         ids[-max(concurrency):])
    runs = [summarise_run(db, fakes, settings_for(fakes, db_url, c), block)
            for c, block in zip(concurrency, blocks(ids, stories, len(concurrency)),
                                strict=True)]
    return warm, runs


# ---------------------------------------------------------------- tracemalloc (untimed)


def heap_peak(directory: Path, fakes: Fakes, now: datetime, stories: int,
              concurrency: int) -> dict[str, Any]:
    """Python heap peak over ingest + one summarise run, in a fresh store, under tracemalloc."""
    db_url = f"sqlite:///{directory / 'traced.db'}"
    settings = settings_for(fakes, db_url, concurrency)
    tracemalloc.start()
    db = open_store(db_url, fakes)
    ingest(db, settings, now)
    ingest_peak = tracemalloc.get_traced_memory()[1]
    summarise_run(db, fakes, settings, story_ids(db)[:stories])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    db.close()
    return {"stories": stories, "concurrency": concurrency,
            "ingest_peak_mb": ingest_peak / 2**20, "peak_mb": peak / 2**20}


# ---------------------------------------------------------------- report


@dataclass
class Outcome:
    """Everything measured."""

    corpus: dict[str, Any]
    ingest: dict[str, Any]
    runs: list[dict[str, Any]]
    memory: dict[str, Any]
    warm_up: dict[str, Any]
    heap: dict[str, Any] | None = None
    together: list[dict[str, Any]] = field(default_factory=list)


def print_ingest(row: dict[str, Any]) -> None:
    """The ingest table."""
    print_table(
        ["phase a: ingest", "feeds", "stored", "dup", "stories", "multi", "s", "art/s",
         "cpu ms/art", "RSS MB"],
        [["feeds -> store", row["feeds"], row["stored"], row["duplicates"], row["stories"],
          row["stories_with_several"], f"{row['seconds']:.1f}",
          f"{row['articles_per_second']:.1f}", f"{row['cpu_ms_per_article']:.1f}",
          f"{row['rss_mb']:.0f}"]])


def print_runs(runs: Sequence[dict[str, Any]]) -> None:
    """The summarise table, one row per concurrency."""
    print_table(
        ["phase b: summarise", "stories", "s", "ideal s", "stories/s", "ideal/s", "% ideal",
         "pass", f"vs C={runs[0]['concurrency']}", "calls/story", "in flight", "call med s",
         "call p95 s", "slot s/story", "cpu ms/story", "RSS MB"],
        [[f"C = {r['concurrency']}", r["stories"], f"{r['seconds']:.1f}",
          f"{r['ideal_seconds']:.0f}", f"{r['throughput']:.2f}", f"{r['ideal']:.0f}",
          f"{100 * r['share_of_ideal']:.1f}", yes_no(r["passes"]), times(r["vs_first"]),
          f"{r['calls_per_story']:.2f}",
          r["peak_in_flight"], f"{r['call_latency_median']:.3f}",
          f"{r['call_latency_p95']:.3f}", f"{r['slot_seconds_per_story']:.3f}",
          f"{r['cpu_ms_per_story']:.1f}", f"{r['rss_mb']:.0f}"] for r in runs])


def together(ingest_row: dict[str, Any], runs: Sequence[dict[str, Any]],
             articles: int) -> list[dict[str, Any]]:
    """One service cycle, ingest then summarise every story, per concurrency."""
    rows = []
    for run in runs:
        measured = run["stories"] == ingest_row["stories"]
        summarise_s = run["seconds"] if measured else ingest_row["stories"] / run["throughput"]
        total = ingest_row["seconds"] + summarise_s
        rows.append({"concurrency": run["concurrency"], "ingest_seconds": ingest_row["seconds"],
                     "summarise_seconds": summarise_s, "summarise_measured": measured,
                     "seconds": total, "articles_per_second": articles / total})
    return rows


def print_summary(out: Outcome, where: str) -> None:
    """The figures to quote."""
    ing, mem, warm = out.ingest, out.memory, out.warm_up
    print("\nSUMMARY")
    print(f"Corpus: {out.corpus['articles']} articles ({out.corpus['median_words']:.0f} words "
          f"median) in {FEEDS} feeds -> {ing['stories']} stories "
          f"({ing['stories_with_several']} with more than one article)")
    print(f"Ingest (feeds -> articles + stories): {ing['seconds']:.1f} s, "
          f"{ing['articles_per_second']:.1f} articles/s, {ing['cpu_ms_per_article']:.1f} ms CPU "
          f"per article")
    for run in out.runs:
        print(f"Summarise C={run['concurrency']}: {run['stories']} stories in "
              f"{run['seconds']:.1f} s = {run['throughput']:.2f} stories/s, "
              f"{100 * run['share_of_ideal']:.1f}% of {run['ideal']:.0f}/s (target >= "
              f"{100 * TARGET_THROUGHPUT:.0f}%): {'pass' if run['passes'] else 'FAIL'}; "
              f"{run['calls_per_story']:.2f} calls/story, {run['peak_in_flight']} calls in flight")
    print(f"(untimed warm-up before them: {warm['stories']} stories at C={warm['concurrency']} "
          f"in {warm['seconds']:.1f} s, {warm['cpu_ms_per_story']:.0f} ms CPU per story)")
    for row in out.together:
        kind = "measured" if row["summarise_measured"] else "summarise extrapolated"
        print(f"Together C={row['concurrency']} (ingest + summarise {ing['stories']} stories, "
              f"{kind}): {row['seconds']:.1f} s = {row['articles_per_second']:.2f} articles/s")
    print(f"Peak RSS: {mem['peak_rss_mb']:.0f} MB (target <= {TARGET_RSS_MB:.0f}): "
          f"{'pass' if mem['passes'] else 'FAIL'}; {mem['baseline_rss_mb']:.0f} MB after imports, "
          f"peak {ing['peak_rss_mb']:.0f} MB by the end of ingest; fake servers {where}")
    if out.heap:
        print(f"tracemalloc peak of what a second, untimed pass allocates (ingest + "
              f"C={out.heap['concurrency']} on {out.heap['stories']} stories; modules, models "
              f"and encodings already loaded): {out.heap['peak_mb']:.1f} MB "
              f"(ingest alone {out.heap['ingest_peak_mb']:.1f} MB)")


# ---------------------------------------------------------------- main


@dataclass(frozen=True)
class Scale:
    """How much to ingest and summarise."""

    articles: int
    stories: int  # per summarise run
    concurrency: tuple[int, ...]


FULL = Scale(ARTICLES, 240, (4, 8, 16))
QUICK = Scale(QUICK_ARTICLES, 16, (4, 8))


def main(argv: Sequence[str] | None = None) -> None:
    """Build the feeds, ingest them, summarise at each concurrency, and report."""
    options = parser(__doc__, servers=True)
    options.add_argument("--stories", type=int,
                         help="stories per summarise run (default 240, a multiple of 4, 8, 16)")
    options.add_argument("--concurrency", type=int, nargs="+",
                         help="summarise_concurrency values to run (default 4 8 16)")
    options.add_argument("--tracemalloc", action="store_true",
                         help="add an untimed pass under tracemalloc (about 1 min)")
    args = options.parse_args(argv)
    concurrency = args.concurrency and tuple(args.concurrency)
    scale = Scale(QUICK.articles if args.quick else FULL.articles,
                  pick(args.stories, FULL.stories, QUICK.stories, args.quick),
                  pick(concurrency, FULL.concurrency, QUICK.concurrency, args.quick))
    info = context("ingest", args.quick)
    print_context(info)
    baseline_rss = rss_mb()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    articles = make_articles(scale.articles, now)
    corpus = {"articles": len(articles), "feeds": FEEDS,
              "median_words": median([a.words for a in articles]),
              "distinct_titles": len({a.title for a in articles})}
    fakes = Fakes(make_feeds(articles), LATENCY, args.in_process)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            directory = Path(tmp)
            db_url = f"sqlite:///{directory / 'bench.db'}"
            db = open_store(db_url, fakes)
            ingest_row = ingest(db, settings_for(fakes, db_url, 1), now)
            warm, runs = summarise_all(db, fakes, db_url, scale.stories, scale.concurrency)
            db.close()
            peak = rss_mb()[1]
            memory = {"peak_rss_mb": peak, "baseline_rss_mb": baseline_rss,
                      "passes": peak <= TARGET_RSS_MB, "fakes_in_process": args.in_process}
            heap = heap_peak(directory, fakes, now, min(scale.stories, 200),
                             max(scale.concurrency)) if args.tracemalloc else None
    finally:
        fakes.close()
    for run in runs:
        run["vs_first"] = ratio(run["throughput"], runs[0]["throughput"])
    out = Outcome(corpus, ingest_row, runs, memory, warm, heap,
                  together(ingest_row, runs, len(articles)))
    where = fakes.served.where
    print(f"{len(articles)} articles, {FEEDS} RSS feeds (full text), fake LLM {LATENCY:.1f} s "
          f"per call ({where}), SQLite store, {len(runs)} summarise runs of {scale.stories} "
          f"stories\n")
    print_ingest(ingest_row)
    print()
    print("in flight = most calls open at once at the fake; slot = seconds a worker spends per "
          "story (ideal 1.0)")
    print_runs(runs)
    print_summary(out, where if args.in_process else f"{where}, not counted")
    data = {"latency_s": LATENCY, "corpus": corpus, "ingest": ingest_row, "warm_up": warm,
            "summarise": runs, "together": out.together, "memory": memory, "tracemalloc": heap,
            "stories_per_run": scale.stories}
    full = scale.stories == ingest_row["stories"]
    name = "-".join(["ingest", *(["in-process"] if args.in_process else []),
                     *(["full"] if full else [])])
    finish(info, result_name(name, args.quick), data, {
        "articles": len(articles), "ingest_articles_per_second":
            round(ingest_row["articles_per_second"], 1),
        "summarise": {str(r["concurrency"]): {"stories_per_second": round(r["throughput"], 2),
                                              "share_of_ideal": round(r["share_of_ideal"], 3),
                                              "vs_first": round(r["vs_first"], 3),
                                              "pass": r["passes"]} for r in runs},
        "peak_rss_mb": round(memory["peak_rss_mb"]), "rss_pass": memory["passes"],
        "servers": where})


if __name__ == "__main__":
    main()
